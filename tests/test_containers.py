"""One-shot containers: checking an outcome (pure), and run_once against a spec'd fake client."""
from __future__ import annotations

from pathlib import Path
from unittest import mock

import docker
import docker.errors
import pytest
import requests
from docker.models.containers import Container, ContainerCollection

from tasks import containers
from tasks.containers import Outcome
from tasks.engine import LABEL_PROJECT, LABEL_TASK, Engine
from tasks.errors import CheckFailed, EngineError, Where
from tasks.spec import Expect, RunStep

SPEC_FILE = Path("/p/exercises/ex/exercise.yml")


def run_step(expect: Expect = Expect(), command: tuple[str, ...] | None = ("python3", "/q.py"),
             timeout: int = 5) -> RunStep:
    return RunStep(exercise="ex", name="question", doc="", after=(),
                   where=Where(SPEC_FILE, 6, "steps.question"), image="image",
                   command=command, env={"WHO": "maggie"}, expect=expect, timeout=timeout)


# --- check -------------------------------------------------------------------------------

def test_check_passes():
    step = run_step(Expect(exit_code=0, stdout=(r"^Answer: \d+$",), stderr=("warn",)))
    containers.check(step, Outcome(0, "hello\nAnswer: 2640\nbye\n", "a warning\n"))


def test_check_nonzero_exit_code_expected():
    containers.check(run_step(Expect(exit_code=2)), Outcome(2, "", ""))


def test_exit_code_mismatch():
    with pytest.raises(CheckFailed) as info:
        containers.check(run_step(), Outcome(1, "partial output\n", "Traceback: boom\n"))
    message = str(info.value)
    assert "ex:question" in message
    assert "exit code 1, expected 0" in message
    assert str(SPEC_FILE) in message
    # The container's output is in the message, both streams.
    assert "--- stdout ---\npartial output" in message
    assert "--- stderr ---\nTraceback: boom" in message


def test_stdout_regex_missing():
    step = run_step(Expect(stdout=(r"^Answer: 2640$",)))
    with pytest.raises(CheckFailed) as info:
        containers.check(step, Outcome(0, "Answer: 2641\n", ""))
    assert "stdout does not match /^Answer: 2640$/" in str(info.value)
    assert "exit code" not in str(info.value).split("--- stdout")[0]
    assert "Answer: 2641" in str(info.value)


def test_stderr_regex_is_checked_on_stderr_only():
    step = run_step(Expect(stderr=("warning",)))
    with pytest.raises(CheckFailed, match="stderr does not match /warning/"):
        containers.check(step, Outcome(0, "warning\n", ""))


def test_every_problem_is_listed():
    step = run_step(Expect(exit_code=0, stdout=("a", "b")))
    with pytest.raises(CheckFailed) as info:
        containers.check(step, Outcome(3, "b\n", ""))
    message = str(info.value)
    assert "exit code 3, expected 0" in message and "stdout does not match /a/" in message
    assert "/b/" not in message


# --- run_once with a spec'd fake client --------------------------------------------------

def fake_engine(container: mock.Mock) -> tuple[Engine, mock.Mock]:
    client = mock.Mock(spec=docker.DockerClient)
    client.containers = mock.Mock(spec=ContainerCollection)
    client.containers.create.return_value = container
    client.containers.list.return_value = []  # nothing left by an earlier run
    return Engine(factory=lambda: client, project="/p/.ac295"), client


def fake_container(status: int = 0, stdout: bytes = b"", stderr: bytes = b"") -> mock.Mock:
    container = mock.Mock(spec=Container)
    container.wait.return_value = {"StatusCode": status}
    container.logs.side_effect = lambda **kw: stdout if kw["stdout"] else stderr
    return container


def test_run_once_success():
    container = fake_container(3, b"line 1\nAnswer: 42\n", b"warn\n")
    engine, client = fake_engine(container)
    lines: list[str] = []
    outcome = containers.run_once(run_step(timeout=7), engine, "sha256:abc", lines.append)
    assert outcome == Outcome(3, "line 1\nAnswer: 42\n", "warn\n")
    client.containers.create.assert_called_once_with(
        "sha256:abc", command=["python3", "/q.py"], environment={"WHO": "maggie"},
        labels={LABEL_TASK: "ex:question", LABEL_PROJECT: "/p/.ac295"}, detach=True,
        privileged=False, mem_limit="2g", pids_limit=1024)
    container.start.assert_called_once_with()
    container.wait.assert_called_once_with(timeout=7)
    container.remove.assert_called_once_with(force=True)
    assert lines == ["line 1", "Answer: 42"]


def test_run_once_without_command_uses_the_image_default():
    engine, client = fake_engine(fake_container())
    containers.run_once(run_step(command=None), engine, "sha256:abc", lambda line: None)
    assert client.containers.create.call_args.kwargs["command"] is None


def test_container_is_removed_when_start_raises():
    container = fake_container()
    container.start.side_effect = docker.errors.APIError("cannot start: no such network")
    engine, _ = fake_engine(container)
    with pytest.raises(docker.errors.APIError):
        containers.run_once(run_step(), engine, "sha256:abc", lambda line: None)
    container.remove.assert_called_once_with(force=True)
    container.wait.assert_not_called()


def test_timeout_is_an_engine_error_and_removes_the_container():
    container = fake_container()
    container.wait.side_effect = requests.exceptions.ReadTimeout()
    engine, _ = fake_engine(container)
    with pytest.raises(EngineError, match="did not finish within 5 s"):
        containers.run_once(run_step(), engine, "sha256:abc", lambda line: None)
    container.remove.assert_called_once_with(force=True)


def test_interrupt_still_removes_the_container():
    container = fake_container()
    container.wait.side_effect = KeyboardInterrupt
    engine, _ = fake_engine(container)
    with pytest.raises(KeyboardInterrupt):
        containers.run_once(run_step(), engine, "sha256:abc", lambda line: None)
    container.remove.assert_called_once_with(force=True)


def test_missing_image_is_an_engine_error():
    engine, client = fake_engine(fake_container())
    client.containers.create.side_effect = docker.errors.ImageNotFound("no such image")
    with pytest.raises(EngineError, match="gone from the engine"):
        containers.run_once(run_step(), engine, "sha256:abcdef", lambda line: None)


def test_containers_left_by_a_killed_run_are_swept_first():
    engine, client = fake_engine(fake_container())
    stale = mock.Mock(spec=Container, short_id="abc123")
    client.containers.list.return_value = [stale]
    containers.run_once(run_step(), engine, "sha256:abc", lambda line: None)
    stale.remove.assert_called_once_with(force=True)
    filters = client.containers.list.call_args.kwargs["filters"]
    assert sorted(filters["label"]) == [f"{LABEL_PROJECT}=/p/.ac295", f"{LABEL_TASK}=ex:question"]
