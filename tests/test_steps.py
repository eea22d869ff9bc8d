"""Step actions and uptodate checks, with records under tmp_path and a spec'd fake engine."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import docker
import docker.errors
import pytest
import requests
from doit.exceptions import TaskFailed

from tasks import images, records, registry
from tasks import steps as ops
from tasks.config import Config
from tasks.engine import Engine
from tasks.errors import Ac295Error, BuildError, RegistryError, Where
from tasks.model import BuildStep, CommitStep, PullStep, PushStep

DIGEST = "sha256:" + "0123456789abcdef" * 4
WHERE = Where(Path("/p/exercises/ex/exercise.yml"), 2, "steps")


# --- reported and quiet_check: the one place errors are caught --------------------------------

@pytest.mark.parametrize("error, words", [
    (BuildError("building me/app:1 failed: no space left"), "building me/app:1 failed: no space"),
    (RegistryError("the registry refused access"), "the registry refused access"),
    (docker.errors.APIError("409 Conflict: name in use"), "409 Conflict: name in use"),
    (docker.errors.DockerException("Error while fetching server API version"),
     "Error while fetching server API version"),
    (requests.ConnectionError("Connection aborted"), "(ConnectionError)"),
])
def test_reported_turns_our_errors_into_task_failed(error, words):
    def action(*args: Any) -> None:
        raise error

    result = ops.reported(action)(1, 2)
    assert isinstance(result, TaskFailed)
    assert words in result.message and result.traceback == ""


@pytest.mark.parametrize("error", [ValueError("bug"), KeyError("image_id"), AssertionError()])
def test_reported_lets_bugs_through(error):
    def action() -> None:
        raise error

    with pytest.raises(type(error)):
        ops.reported(action)()


def test_reported_passes_results_and_arguments():
    wrapped = ops.reported(lambda a, b=0: {"sum": a + b})
    assert wrapped(1, b=2) == {"sum": 3}
    assert ops.reported(lambda: None)() is None


@pytest.mark.parametrize("error", [Ac295Error("x"), docker.errors.NotFound("gone"),
                                   requests.ConnectionError("down"), PermissionError("ro")])
def test_quiet_check_says_not_up_to_date_on_errors(error):
    def check() -> bool:
        raise error

    assert ops.quiet_check(check)() is False


def test_quiet_check_passes_answers_and_bugs():
    assert ops.quiet_check(lambda: 1)() is True
    assert ops.quiet_check(lambda: None)() is False
    with pytest.raises(ZeroDivisionError):
        ops.quiet_check(lambda: 1 / 0)()


# --- a runtime with records under tmp_path --------------------------------------------------

PYTHON = {"Id": "sha256:py", "RepoTags": ["python:3.11"]}
APP = {"Id": "sha256:app", "RepoTags": ["me/app:1"]}
COMMITTED = {"Id": "sha256:c", "RepoTags": ["me/app:2"]}


def runtime(tmp_path: Path, listing: list[dict[str, Any]]) -> tuple[ops.Runtime, mock.Mock]:
    client = mock.Mock(spec=docker.DockerClient)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    client.api.images.return_value = listing
    cfg = Config(root=tmp_path, state=tmp_path / "state",
                 variables={"registry": "127.0.0.1:5000"})
    return ops.Runtime(cfg, engine=Engine(factory=lambda: client)), client.api


def record(rt: ops.Runtime, task: str, **data: Any) -> Path:
    path = rt.record_path(task)
    records.write(path, {"task": task, **data})
    return path


def build_step(tmp_path: Path) -> BuildStep:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM python:3.11\nCOPY app.py /\n")
    (context / "app.py").write_text("print('hi')\n")
    return BuildStep(exercise="ex", name="image", doc="", after=(), where=WHERE, context=context,
                     dockerfile=context / "Dockerfile", tag="me/app:1", args={},
                     bases=("python:3.11",))


@pytest.mark.parametrize("change, listing, expected", [
    ({}, [PYTHON, APP], True),
    (None, [PYTHON, APP], False),
    ({"inputs_digest": DIGEST}, [PYTHON, APP], False),
    ({}, [PYTHON], False),  # the image is gone
    ({}, [PYTHON, {**APP, "RepoTags": []}, {"Id": "sha256:x", "RepoTags": ["me/app:1"]}],
     False),  # the tag names another image
    ({}, [{**PYTHON, "Id": "sha256:py2"}, APP], False),  # a new base image
])
def test_build_uptodate(tmp_path, change, listing, expected):
    step = build_step(tmp_path)
    if change is not None:
        rt, _ = runtime(tmp_path, [PYTHON, APP])
        good = images.inputs_digest(step, rt.engine)
        record(rt, step.task, **{"image_id": "sha256:app", "inputs_digest": good, **change})
    rt, _ = runtime(tmp_path, listing)
    assert ops.build_uptodate(rt, step) is expected


def test_build_uptodate_sees_an_edit(tmp_path):
    step = build_step(tmp_path)
    rt, _ = runtime(tmp_path, [PYTHON, APP])
    record(rt, step.task, image_id="sha256:app",
           inputs_digest=images.inputs_digest(step, rt.engine))
    assert ops.build_uptodate(rt, step)
    (step.context / "app.py").write_text("print('bye')\n")
    assert not ops.build_uptodate(rt, step)


def serve(monkeypatch, answer: str | None) -> list[str]:
    """Make Runtime.served_digest answer ``answer``; return the references it is asked for."""
    asked: list[str] = []
    monkeypatch.setattr(ops.Runtime, "served_digest",
                        lambda self, ref: asked.append(ref) or answer)
    return asked


PUSH = PushStep(exercise="ex", name="publish", doc="", after=(), where=WHERE, image="image",
                tag=None)
REF = "127.0.0.1:5000/me/app:1"
PUSHED = {"image_id": "sha256:app", "digest": DIGEST}


@pytest.mark.parametrize("push, image, answer, expected", [
    (PUSHED, {"image_id": "sha256:app"}, DIGEST, True),
    (None, {"image_id": "sha256:app"}, DIGEST, False),
    (PUSHED, None, DIGEST, False),
    (PUSHED, {"image_id": "sha256:new"}, DIGEST, False),
    (PUSHED, {"image_id": "sha256:app"}, "sha256:x", False),
    (PUSHED, {"image_id": "sha256:app"}, None, False),
], ids=["same", "no record", "no image record", "image rebuilt", "other digest", "tag gone"])
def test_push_uptodate(tmp_path, monkeypatch, push, image, answer, expected):
    rt, _ = runtime(tmp_path, [APP])
    asked = serve(monkeypatch, answer)
    if push is not None:
        record(rt, PUSH.task, ref=REF, **push)
    if image is not None:
        record(rt, "ex:image", inputs_digest=DIGEST, **image)
    assert ops.push_uptodate(rt, PUSH, REF) is expected
    assert asked == ([REF] if push and image == {"image_id": "sha256:app"} else [])


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
        record(rt, PULL.task, ref=PULL.ref, **pulled)
    assert ops.pull_uptodate(rt, PULL) is expected
    assert asked in ([], ["python:3.11"])


COMMIT = CommitStep(exercise="ex", name="commit", doc="", after=(), where=WHERE, image="image",
                    commands=("pip install flask",), tag="me/app:2")


@pytest.mark.parametrize("source, made, listing, expected", [
    ("sha256:app", "sha256:app", [APP, COMMITTED], True),
    (None, "sha256:app", [APP, COMMITTED], False),
    ("sha256:app", None, [APP, COMMITTED], False),
    ("sha256:new", "sha256:app", [APP, COMMITTED], False),  # the source was rebuilt
    ("sha256:app", "sha256:app", [APP], False),  # the committed image is gone
], ids=["same", "no source record", "no record", "new source", "image gone"])
def test_commit_uptodate(tmp_path, source, made, listing, expected):
    rt, _ = runtime(tmp_path, listing)
    if source is not None:
        record(rt, "ex:image", image_id=source, inputs_digest=DIGEST)
    if made is not None:
        record(rt, COMMIT.task, image_id="sha256:c",
               inputs_digest=images.commit_digest(made, COMMIT.commands))
    assert ops.commit_uptodate(rt, COMMIT) is expected


# --- a failing action leaves no record -----------------------------------------------------

def test_failed_build_removes_the_record(tmp_path):
    step = build_step(tmp_path)
    rt, api = runtime(tmp_path, [PYTHON, APP])
    path = record(rt, step.task, image_id="sha256:app", inputs_digest=DIGEST)
    api.build.return_value = iter([{"stream": "Step 2/2 : COPY app.py /\n"},
                                   {"error": "COPY failed: no source files"}])
    result = ops.reported(ops.build_action)(rt, step)
    assert isinstance(result, TaskFailed) and "COPY failed" in result.message
    assert not path.exists()
    api.pull.assert_not_called()  # the base was there


def test_failed_pull_removes_the_record(tmp_path):
    rt, api = runtime(tmp_path, [PYTHON])
    path = record(rt, PULL.task, ref=PULL.ref, image_id="sha256:py", digest=DIGEST)
    api.pull.return_value = iter([{"error": "toomanyrequests: rate limit"}])
    result = ops.reported(ops.pull_action)(rt, PULL)
    assert isinstance(result, TaskFailed) and "rate limit" in result.message
    assert not path.exists()


def test_failed_push_removes_the_record(tmp_path, monkeypatch):
    rt, api = runtime(tmp_path, [{**APP, "RepoTags": [REF]}])
    serve(monkeypatch, None)
    record(rt, "ex:image", image_id="sha256:app", inputs_digest=DIGEST)
    path = record(rt, PUSH.task, ref=REF, **PUSHED)
    api.push.return_value = iter([{"status": "Preparing", "id": "l1"},
                                  {"error": "denied", "errorDetail": {"message": "denied"}}])
    result = ops.reported(ops.push_action)(rt, PUSH, REF)
    assert isinstance(result, TaskFailed) and "denied" in result.message
    assert not path.exists()


# --- served_digest: the local registry or a remote one --------------------------------------

@pytest.mark.parametrize("ref, where", [(REF, "local"), ("ghcr.io/me/app:1", "remote"),
                                        ("127.0.0.1:5001/me/app:1", "remote")])
def test_served_digest_asks_the_right_registry(tmp_path, monkeypatch, ref, where):
    monkeypatch.setattr(registry.LocalRegistry, "served_digest", lambda self, r: "local")
    monkeypatch.setattr(registry, "manifest_digest", lambda r: "remote")
    rt, _ = runtime(tmp_path, [])
    assert rt.served_digest(ref) == where
