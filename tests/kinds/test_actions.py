"""Every step action and up-to-date check that the other unit tests leave out, each against
the bug that would break it: a run that skips its check, a failed commit committed anyway, a
venv check blind to the interpreter, a wheelhouse check blind to its wheels, a copy from a
lock without the freeze check, a pull by content tag without the label check, an import."""
from __future__ import annotations

import hashlib

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from doit.exceptions import TaskFailed

from helpers import DIGEST, WHERE, record, runtime
from tasks.engine import containers
from tasks.engine.builders import Made
from tasks.engine.client import LABEL_MADE
from tasks.engine.containers import Outcome
from tasks.errors import CommandFailed
from tasks.kinds import records
from tasks.kinds import import_, reuse, run, venv, wheelhouse
from tasks.kinds.actions import Action, Recording
from tasks.kinds.expect import Expect
from tasks.kinds.import_ import ImportStep
from tasks.kinds.run import RunStep
from tasks.kinds.runtime import Runtime
from tasks.kinds.venv import VenvStep
from tasks.kinds.wheelhouse import WheelhouseStep


def notes(rt: Runtime, task: str, **data: Any) -> None:
    records.write(records.local_of(rt.record_path(task)), {"task": task, **data})


def image_step(rt: Runtime, image_id: str = "sha256:app") -> None:
    record(rt, "ex:image", content_digest=DIGEST)
    notes(rt, "ex:image", inputs_digest=DIGEST, image_id=image_id)


# --- run -------------------------------------------------------------------------------------

RUN = RunStep(exercise="ex", name="question", doc="", after=(), where=WHERE, image="image",
              command=("python3", "/q.py"), env={}, expect=Expect(stdout=("^Answer: 2640$",)),
              timeout=5)


@pytest.mark.parametrize("printed, passes", [("Answer: 2640\n", True), ("Answer: 1\n", False)])
def test_run_checks_its_expectations_before_recording(tmp_path, monkeypatch, printed, passes):
    rt, _ = runtime(tmp_path)
    image_step(rt)
    monkeypatch.setattr(containers, "run_once", lambda *a, **k: Outcome(0, printed, ""))
    result = Action(run.run)(rt, RUN, None)
    assert (result is None) is passes
    saved = records.read(rt.record_path(RUN.task))
    if passes:
        assert saved == {"schema": records.SCHEMA, "task": RUN.task, "exit_code": 0,
                         "stdout": printed, "stderr": ""}
    else:
        assert isinstance(result, TaskFailed) and "does not match" in result.message
        assert saved is None


def test_the_run_record_holds_the_outcome_not_the_image(tmp_path, monkeypatch):
    rt, _ = runtime(tmp_path)
    monkeypatch.setattr(containers, "run_once", lambda *a, **k: Outcome(0, "Answer: 2640\n", ""))
    image_step(rt, "sha256:one")
    Action(run.run)(rt, RUN, None)
    first = rt.record_path(RUN.task).read_bytes()
    image_step(rt, "sha256:two")  # the same content, rebuilt with another id
    Action(run.run)(rt, RUN, None)
    assert rt.record_path(RUN.task).read_bytes() == first


# --- commit: a failed command is never committed ----------------------------------------------

def test_a_failed_commit_command_is_not_committed():
    engine = mock.Mock()
    container = mock.Mock()
    container.wait.return_value = {"StatusCode": 2}
    container.logs.return_value = b"sh: no such file\n"
    engine.client.containers.create.return_value = container
    engine.client.containers.list.return_value = []
    engine.client.api.inspect_image.return_value = {"Config": {"Cmd": ["python3"]}}
    with pytest.raises(CommandFailed, match="exit code 2.*Fix 'commands:'"):
        containers.commit(engine, "sha256:src", ["false"], "me/app:2", 60, {}, {}, "ex:modify",
                          "Fix 'commands:' in exercise.yml.", lambda line: None)
    container.commit.assert_not_called()
    container.remove.assert_called_once_with(force=True)


# --- venv ------------------------------------------------------------------------------------

def venv_step(tmp_path: Path, **changes: Any) -> VenvStep:
    spec = tmp_path / "requirements.txt"
    spec.write_text("six==1.16.0\n")
    fields: dict[str, Any] = dict(exercise="ex", name="env", doc="", after=(), where=WHERE,
                                  path=tmp_path / "env", spec=spec, from_lock=None,
                                  lock=tmp_path / "env.lock", python="python3")
    return VenvStep(**{**fields, **changes})


def made_venv(rt: Runtime, step: VenvStep, python: str = "3.11.7") -> None:
    (step.path / "bin").mkdir(parents=True)
    (step.path / "bin" / "python").write_text("")
    step.lock.write_text("six==1.16.0\n")
    six = "sha256:" + hashlib.sha256(b"six==1.16.0\n").hexdigest()  # the spec's and lock's
    record(rt, step.task, python=python, lock=six, freeze="x\n")
    notes(rt, step.task, inputs=six)


@pytest.mark.parametrize("edit, fresh", [
    (None, True),
    ("python", False),
    ("spec", False),
    ("lock", False),
    ("folder", False),
], ids=["same", "interpreter", "spec", "lock edited", "folder gone"])
def test_venv_uptodate(tmp_path, monkeypatch, edit, fresh):
    rt, _ = runtime(tmp_path)
    step = venv_step(tmp_path)
    made_venv(rt, step)
    monkeypatch.setattr(venv.envs, "interpreter_version",
                        lambda python: "3.11.9" if edit == "python" else "3.11.7")
    if edit == "spec":
        step.spec.write_text("six==1.17.0\n")  # type: ignore[union-attr]
    elif edit == "lock":
        step.lock.write_text("six==0.1\n")
    elif edit == "folder":
        (step.path / "bin" / "python").unlink()
    assert venv.uptodate(rt, step, None).fresh is fresh


def test_a_copy_from_a_lock_must_have_the_same_freeze(tmp_path, monkeypatch):
    rt, _ = runtime(tmp_path)
    source = venv_step(tmp_path, name="maggie")
    source.lock.write_text("six==1.16.0\n")
    record(rt, source.task, python="3.11.7", lock="sha256:l", freeze="six==1.16.0\n")
    copy = venv_step(tmp_path, name="john", spec=None, from_lock="maggie",
                     path=tmp_path / "john", lock=tmp_path / "john.lock")
    monkeypatch.setattr(venv.envs, "interpreter_version", lambda python: "3.11.7")
    monkeypatch.setattr(venv.envs, "create", lambda *a: None)
    monkeypatch.setattr(venv.envs, "install_lock", lambda *a: None)
    monkeypatch.setattr(venv.envs, "freeze", lambda path: "six==1.15.0\n")
    result = Action(venv.run)(rt, copy, source)
    assert isinstance(result, TaskFailed) and "differs from it" in result.message
    assert records.read(rt.record_path(copy.task)) is None
    monkeypatch.setattr(venv.envs, "freeze", lambda path: "six==1.16.0\n")
    assert Action(venv.run)(rt, copy, source) is None
    assert records.read(rt.record_path(copy.task))["freeze"] == "six==1.16.0\n"


# --- wheelhouse ----------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, fresh", [
    (None, True), ("changed", False), ("missing", False), ("lock", False)])
def test_wheelhouse_uptodate(tmp_path, edit, fresh):
    rt, _ = runtime(tmp_path)
    source = venv_step(tmp_path)
    source.lock.write_text("six==1.16.0\n")
    step = WheelhouseStep(exercise="ex", name="wheels", doc="", after=(), where=WHERE,
                          folder=tmp_path / "wheels", from_lock="env")
    step.folder.mkdir()
    (step.folder / "six-1.16.0-py2.py3-none-any.whl").write_bytes(b"wheel")
    record(rt, step.task, files={"six-1.16.0-py2.py3-none-any.whl":
                                 hashlib.sha256(b"wheel").hexdigest()},
           lock="sha256:" + hashlib.sha256(b"six==1.16.0\n").hexdigest())
    if edit == "changed":
        (step.folder / "six-1.16.0-py2.py3-none-any.whl").write_bytes(b"other")
    elif edit == "missing":
        (step.folder / "six-1.16.0-py2.py3-none-any.whl").unlink()
    elif edit == "lock":
        source.lock.write_text("six==1.17.0\n")
    assert wheelhouse.uptodate(rt, step, source).fresh is fresh


# --- a pull by content tag takes only an image made from the same inputs ----------------------

@pytest.mark.parametrize("label, taken", [(DIGEST, True), ("sha256:" + "f" * 64, False),
                                          (None, False)])
def test_pull_by_content_checks_the_inputs_label(tmp_path, monkeypatch, label, taken):
    pulled = {"Id": "sha256:pulled", "RepoTags": ["127.0.0.1:5000/me/app:in-0123456789ab"],
              "Labels": {LABEL_MADE: f"{label} ex:image /p/.ac295"} if label else {}}
    rt, api = runtime(tmp_path, [pulled])
    monkeypatch.setattr(Runtime, "served_digest", lambda self, ref: "sha256:" + "9" * 64)
    monkeypatch.setattr(Runtime, "local_registry", property(lambda self: None))
    monkeypatch.setattr(reuse.registry, "pull", lambda engine, ref, progress: "sha256:pulled")
    api.inspect_image.return_value = {**pulled, "Config": {"Labels": pulled["Labels"]}}
    found = reuse.pull_by_content(rt, "127.0.0.1:5000/me/app:1", DIGEST)
    assert (found == "sha256:pulled") is taken


# --- import ---------------------------------------------------------------------------------------

def import_step(tmp_path: Path, recipe: tuple[str, ...] = ()) -> ImportStep:
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(b"x" * 100)
    (tmp_path / "make.sh").write_text("true\n")
    return ImportStep(exercise="ex", name="base", doc="", after=(), where=WHERE, tarball=tarball,
                      tag="me/base:1", changes=("CMD [\"sh\"]",), recipe=recipe,
                      recipe_key=recipe, deps=(tmp_path / "make.sh",) if recipe else ())


@pytest.mark.parametrize("recipe", [(), ("./make.sh",)], ids=["tarball", "recipe"])
def test_import_uptodate(tmp_path, recipe):
    step = import_step(tmp_path, recipe)
    rt, _ = runtime(tmp_path, [{"Id": "sha256:base", "RepoTags": ["me/base:1"]}])
    assert import_.uptodate(rt, step).fresh is False  # no record yet
    digest = import_.import_digest(step, None)
    record(rt, step.task, content_digest=DIGEST)
    notes(rt, step.task, inputs_digest=digest, image_id="sha256:base")
    assert import_.uptodate(rt, step).fresh is True
    if recipe:
        (tmp_path / "make.sh").write_text("false\n")  # the recipe's input changed
    else:
        step.tarball.write_bytes(b"y" * 100)  # the tarball changed
    assert import_.uptodate(rt, step).fresh is False


def test_an_import_labels_its_rootfs_with_recipe_and_packages(tmp_path):
    step = import_step(tmp_path, ("./make.sh",))
    rt, _ = runtime(tmp_path)
    labels = import_._labels(rt, step, DIGEST, "sha256:" + "a" * 64, ["python3=3.11.2-6"])
    identity = import_.rootfs_identity(DIGEST, ["python3=3.11.2-6"])
    assert labels["org.ac295.rootfs"] == identity
    assert labels["org.ac295.manifest"] == "python3=3.11.2-6"
    assert labels[LABEL_MADE].startswith("sha256:" + "a" * 64 + " ex:base ")
    assert identity != import_.rootfs_identity(DIGEST, ["python3=3.11.2-6+deb12u1"])
    assert identity != import_.rootfs_identity("sha256:" + "e" * 64, ["python3=3.11.2-6"])


def test_make_image_records_content_and_notes_inputs(tmp_path, monkeypatch):
    rt, _ = runtime(tmp_path, [])
    monkeypatch.setattr(rt.engine, "find_made", lambda digest, task, hint="": None)
    monkeypatch.setattr(reuse, "pull_by_content", lambda rt, tag, digest: None)
    monkeypatch.setattr(reuse.images, "tag", lambda engine, image_id, ref: None)
    monkeypatch.setattr(reuse, "content_of", lambda rt, image_id: "sha256:content")
    recording = Recording()
    assert reuse.make_image(rt, "ex:image", "me/app:1", DIGEST, lambda: Made("sha256:new"),
                            recording) == "sha256:new"
    assert recording.data == {"content_digest": "sha256:content"}
    assert recording.local == {"inputs_digest": DIGEST, "image_id": "sha256:new"}
