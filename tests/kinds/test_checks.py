"""Step actions and up-to-date checks, with records under tmp_path and a spec'd fake engine."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests
from doit.exceptions import TaskFailed

from helpers import DIGEST, WHERE, record, runtime
from tasks.engine import localregistry, registry
from tasks.engine.boundary import translated
from tasks.errors import Ac295Error, BuildError, EngineError, RegistryError
from tasks.kinds import build, commit, pull, push
from tasks.kinds.actions import Action, Check, Verdict
from tasks.kinds.build import BuildStep
from tasks.kinds.commit import CommitStep
from tasks.kinds.pull import PullStep
from tasks.kinds.push import PushStep
from tasks.kinds import records
from tasks.kinds.runtime import Runtime


# --- Action and Check: the one place errors are caught --------------------------------------

@pytest.mark.parametrize("error, words", [
    (BuildError("building me/app:1 failed: no space left"), "building me/app:1 failed: no space"),
    (RegistryError("the registry refused access"), "the registry refused access"),
    (docker.errors.APIError("409 Conflict: name in use"), "409 Conflict: name in use"),
    (docker.errors.DockerException("Error while fetching server API version"),
     "Error while fetching server API version"),
    (requests.ConnectionError("Connection aborted"), "(ConnectionError)"),
])
def test_action_turns_our_errors_into_task_failed(error, words):
    @translated  # library exceptions become ours where the engine layer calls the library
    def action(*args: Any) -> None:
        raise error

    result = Action(action)(1, 2)
    assert isinstance(result, TaskFailed)
    assert words in result.message and result.traceback == ""


@pytest.mark.parametrize("error", [ValueError("bug"), KeyError("image_id"), AssertionError(),
                                   docker.errors.APIError("untranslated: a bug")])
def test_action_lets_bugs_through(error):
    def action() -> None:
        raise error

    with pytest.raises(type(error)):
        Action(action)()


def test_action_passes_results_and_arguments():
    assert Action(lambda a, b: {"sum": a + b})(1, 2) == {"sum": 3}
    assert Action(lambda: None)() is None


@pytest.mark.parametrize("error", [Ac295Error("x"), EngineError("gone"), PermissionError("ro")])
def test_check_says_not_up_to_date_on_errors(error):
    def check() -> bool:
        raise error

    wrapped = Check("what it checks", check)
    assert wrapped() is False
    assert "cannot be checked" in repr(wrapped) and str(error) in repr(wrapped)


def test_check_passes_answers_and_bugs():
    assert Check("x", lambda: True)() is True
    assert Check("x", lambda: False)() is False
    verdict = Check("x", lambda: Verdict(False, "Question.py changed"))
    assert verdict() is False and repr(verdict) == "x: Question.py changed"
    with pytest.raises(ZeroDivisionError):
        Check("x", lambda: 1 / 0)()


# --- a runtime with records under tmp_path --------------------------------------------------

PY_DIGEST = "sha256:" + "a" * 64
PYTHON = {"Id": "sha256:py", "RepoTags": ["python:3.11"], "RepoDigests": [f"python@{PY_DIGEST}"]}
APP = {"Id": "sha256:app", "RepoTags": ["me/app:1"]}
COMMITTED = {"Id": "sha256:c", "RepoTags": ["me/app:2"]}
NO_MAKERS: dict[str, Path | None] = {"python:3.11": None}  # no step makes the base


def local(rt: Runtime, task: str, **data: Any) -> Path:
    """Write a step's local facts (engine ids, registry digests), as its action would."""
    path = records.local_of(rt.record_path(task))
    records.write(path, {"task": task, **data})
    return path


def made(rt: Runtime, task: str, image_id: str, inputs: str, content: str = DIGEST) -> None:
    """The record and notes of an image step that made ``image_id``."""
    record(rt, task, content_digest=content)
    local(rt, task, inputs_digest=inputs, image_id=image_id)


def build_step(tmp_path: Path) -> BuildStep:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM python:3.11\nCOPY app.py /\n")
    (context / "app.py").write_text("print('hi')\n")
    return BuildStep(exercise="ex", name="image", doc="", after=(), where=WHERE, context=context,
                     dockerfile=context / "Dockerfile", tag="me/app:1", args={},
                     bases=("python:3.11",))


#: The inputs digest of ``build_step``'s context with PYTHON as its base, written down once
#: (the oracle of the checks below is this literal, not the function they check). It changes
#: only when the identity of builds changes, which makes every record and lock stale: update
#: it then on purpose.
BUILD_INPUTS = "sha256:78f188728cbe4733f2a5d0078b1b1f3cb88d1a854b379de1dd59c59f4d67f97b"
#: commit_digest(SOURCE, ("pip install flask",)), written down once.
COMMIT_INPUTS = "sha256:9993a45af1179ed7b06fa86c1c2833441b0d80d5551b0766b1de3627faa40ef6"


@pytest.mark.parametrize("change, listing, expected", [
    ({}, [PYTHON, APP], True),
    (None, [PYTHON, APP], False),
    ({"inputs": DIGEST}, [PYTHON, APP], False),
    ({}, [PYTHON], False),  # the image is gone
    ({}, [PYTHON, {**APP, "RepoTags": []}, {"Id": "sha256:x", "RepoTags": ["me/app:1"]}],
     False),  # the tag names another image
    ({}, [{**PYTHON, "RepoDigests": [f"python@{DIGEST}"]}, APP], False),  # a new base image
    ({}, [{**PYTHON, "Id": "sha256:py2"}, APP], True),  # another id, the same content
], ids=["same", "no record", "other inputs", "image gone", "tag moved", "new base",
        "base id only"])
def test_build_uptodate(tmp_path, change, listing, expected):
    step = build_step(tmp_path)
    if change is not None:
        rt, _ = runtime(tmp_path, [PYTHON, APP])
        made(rt, step.task, "sha256:app", change.get("inputs") or BUILD_INPUTS)
    rt, _ = runtime(tmp_path, listing)
    assert build.uptodate(rt, step, NO_MAKERS).fresh is expected


def test_build_uptodate_sees_an_edit(tmp_path):
    step = build_step(tmp_path)
    rt, _ = runtime(tmp_path, [PYTHON, APP])
    made(rt, step.task, "sha256:app", BUILD_INPUTS)
    assert build.uptodate(rt, step, NO_MAKERS).fresh
    (step.context / "app.py").write_text("print('bye')\n")
    verdict = build.uptodate(rt, step, NO_MAKERS)
    assert not verdict.fresh and "inputs changed" in verdict.reason


def test_a_missing_tag_is_put_back_without_a_rebuild(tmp_path):
    step = build_step(tmp_path)
    rt, api = runtime(tmp_path, [PYTHON, {**APP, "RepoTags": ["127.0.0.1:5001/me/app:1"]}])
    made(rt, step.task, "sha256:app", BUILD_INPUTS)
    api.inspect_image.return_value = {**APP, "RepoTags": ["me/app:1"]}
    verdict = build.uptodate(rt, step, NO_MAKERS)
    assert verdict.fresh and "put back" in verdict.reason
    api.tag.assert_called_once_with("sha256:app", "me/app", "1", force=True)


def test_a_base_made_by_a_step_is_identified_by_its_record(tmp_path):
    step = build_step(tmp_path)
    rt, _ = runtime(tmp_path, [APP])  # the engine need not even know the base by name
    record(rt, "base:image", content_digest="sha256:" + "b" * 64)
    makers = {"python:3.11": rt.record_path("base:image")}
    first = build.inputs_digest(step, build.read_identities(rt, step, makers))
    record(rt, "base:image", content_digest="sha256:" + "c" * 64)
    second = build.inputs_digest(step, build.read_identities(rt, step, makers))
    assert first and second and first != second


def serve(monkeypatch, answer: str | None) -> list[str]:
    """Make Runtime.served_digest answer ``answer``; return the references it is asked for."""
    asked: list[str] = []
    monkeypatch.setattr(Runtime, "served_digest",
                        lambda self, ref: asked.append(ref) or answer)
    return asked


PUSH = PushStep(exercise="ex", name="publish", doc="", after=(), where=WHERE, image="image",
                tag=None)
REF = "127.0.0.1:5000/me/app:1"
PUSHED = {"image_id": "sha256:app", "digest": DIGEST}


@pytest.mark.parametrize("pushed, image, answer, expected", [
    (PUSHED, "sha256:app", DIGEST, True),
    (None, "sha256:app", DIGEST, False),
    (PUSHED, None, DIGEST, False),
    (PUSHED, "sha256:new", DIGEST, False),
    (PUSHED, "sha256:app", "sha256:x", False),
    (PUSHED, "sha256:app", None, False),
], ids=["same", "no record", "no image record", "image rebuilt", "other digest", "tag gone"])
def test_push_uptodate(tmp_path, monkeypatch, pushed, image, answer, expected):
    rt, _ = runtime(tmp_path, [APP])
    asked = serve(monkeypatch, answer)
    if pushed is not None:
        record(rt, PUSH.task, content_digest=DIGEST)
        local(rt, PUSH.task, ref=REF, **pushed)
    if image is not None:
        made(rt, "ex:image", image, DIGEST)
    assert push.uptodate(rt, PUSH, REF).fresh is expected
    assert asked == ([REF] if pushed and image == "sha256:app" else [])


PULL = PullStep(exercise="ex", name="base", doc="", after=(), where=WHERE, ref="python:3.11")


@pytest.mark.parametrize("pulled, listing, answer, expected", [
    ({"image_id": "sha256:py", "digest": DIGEST}, [PYTHON], DIGEST, True),
    (None, [PYTHON], DIGEST, False),
    ({"image_id": "sha256:py", "digest": DIGEST}, [PYTHON], "sha256:moved", False),
    ({"image_id": "sha256:py", "digest": DIGEST}, [APP], DIGEST, False),
], ids=["same", "no record", "tag moved", "image gone"])
def test_pull_uptodate(tmp_path, monkeypatch, pulled, listing, answer, expected):
    rt, _ = runtime(tmp_path, listing)
    asked = serve(monkeypatch, answer)
    if pulled is not None:
        record(rt, PULL.task, content_digest=DIGEST)
        local(rt, PULL.task, ref=PULL.ref, **pulled)
    assert pull.uptodate(rt, PULL).fresh is expected
    assert asked in ([], ["python:3.11"])


COMMIT = CommitStep(exercise="ex", name="commit", doc="", after=(), where=WHERE, image="image",
                    commands=("pip install flask",), tag="me/app:2")
SOURCE = "sha256:" + "5" * 64


@pytest.mark.parametrize("source, made_from, listing, expected", [
    (SOURCE, SOURCE, [APP, COMMITTED], True),
    (None, SOURCE, [APP, COMMITTED], False),
    (SOURCE, None, [APP, COMMITTED], False),
    ("sha256:" + "6" * 64, SOURCE, [APP, COMMITTED], False),  # the source's content changed
    (SOURCE, SOURCE, [APP], False),  # the committed image is gone
], ids=["same", "no source record", "no record", "new source", "image gone"])
def test_commit_uptodate(tmp_path, source, made_from, listing, expected):
    rt, _ = runtime(tmp_path, listing)
    if source is not None:
        made(rt, "ex:image", "sha256:app", DIGEST, content=source)
    if made_from is not None:
        made(rt, COMMIT.task, "sha256:c",
             COMMIT_INPUTS if made_from == SOURCE else "sha256:" + "9" * 64)
    assert commit.uptodate(rt, COMMIT).fresh is expected


# --- a failing action leaves no record -----------------------------------------------------

def test_failed_build_removes_the_record(tmp_path):
    step = build_step(tmp_path)
    rt, api = runtime(tmp_path, [PYTHON, APP])
    path = record(rt, step.task, image_id="sha256:app", inputs_digest=DIGEST)
    api.build.return_value = iter([{"stream": "Step 2/2 : COPY app.py /\n"},
                                   {"error": "COPY failed: no source files"}])
    result = Action(build.run)(rt, step, NO_MAKERS)
    assert isinstance(result, TaskFailed) and "COPY failed" in result.message
    assert not path.exists()
    api.pull.assert_not_called()  # the base was there


def test_failed_pull_removes_the_record(tmp_path):
    rt, api = runtime(tmp_path, [PYTHON])
    path = record(rt, PULL.task, content_digest=DIGEST)
    api.pull.return_value = iter([{"error": "toomanyrequests: rate limit"}])
    result = Action(pull.run)(rt, PULL)
    assert isinstance(result, TaskFailed) and "rate limit" in result.message
    assert not path.exists()


def test_failed_push_removes_the_record(tmp_path, monkeypatch):
    rt, api = runtime(tmp_path, [{**APP, "RepoTags": [REF]}])
    serve(monkeypatch, None)
    made(rt, "ex:image", "sha256:app", DIGEST)
    path = record(rt, PUSH.task, content_digest=DIGEST)
    api.push.return_value = iter([{"status": "Preparing", "id": "l1"},
                                  {"error": "denied", "errorDetail": {"message": "denied"}}])
    result = Action(push.run)(rt, PUSH, REF)
    assert isinstance(result, TaskFailed) and "denied" in result.message
    assert not path.exists()


# --- served_digest: the local registry or a remote one --------------------------------------

@pytest.mark.parametrize("ref, where", [(REF, "local"), ("ghcr.io/me/app:1", "remote"),
                                        ("127.0.0.1:5001/me/app:1", "remote")])
def test_served_digest_asks_the_right_registry(tmp_path, monkeypatch, ref, where):
    monkeypatch.setattr(localregistry.LocalRegistry, "served_digest", lambda self, r: "local")
    monkeypatch.setattr(registry, "manifest_digest", lambda r: "remote")
    rt, _ = runtime(tmp_path, [])
    assert rt.served_digest(ref) == where


# --- messages that say what is wrong and what to do -------------------------------------------

def test_a_tag_without_a_registry_is_said_to_be_one(tmp_path, monkeypatch):
    rt, _ = runtime(tmp_path)

    def refuse(ref):
        raise RegistryError("the registry docker.io does not answer (ConnectionError)")

    monkeypatch.setattr(registry, "manifest_digest", refuse)
    with pytest.raises(RegistryError) as info:
        rt.served_digest("me/app:1")
    message = str(info.value)
    assert "me/app:1 names no registry" in message and "127.0.0.1:5000/me/app:1" in message
    assert "'registry' variable" not in message
    with pytest.raises(RegistryError, match="fix the 'registry' variable|does not answer"):
        rt.served_digest("ghcr.io/me/app:1")  # a registry named: its own message


def test_progress_drops_escape_codes_off_a_terminal(capsys):
    from tasks.progress import progress

    progress("\x1b[31mERROR: boom\x1b[0m\n")
    assert capsys.readouterr().out == "ERROR: boom\n"


def test_meters_are_left_out_off_a_terminal(capsys):
    from tasks.progress import progress

    progress("\rl1: Pushing 1.0/2.0 MB")
    progress("l1: Pushed")
    assert capsys.readouterr().out == "l1: Pushed\n"
