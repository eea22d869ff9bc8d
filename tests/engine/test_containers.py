"""One-shot containers and commits against a spec'd fake client: create, wait, always remove."""
from __future__ import annotations

from unittest import mock

import docker
import docker.errors
import pytest
import requests
from docker.models.containers import Container, ContainerCollection

from helpers import fake_engine as _fake_engine
from tasks.engine import containers
from tasks.engine.client import LABEL_PROJECT, LABEL_TASK, Engine
from tasks.engine.containers import Outcome
from tasks.engine.shells import LABEL_SHELL
from tasks.errors import EngineError

LABELS = {LABEL_TASK: "ex:question", LABEL_PROJECT: "/p/.ac295"}


def run_once(engine: Engine, lines: list[str] | None = None, command=("python3", "/q.py"),
             timeout: int = 5) -> Outcome:
    return containers.run_once(engine, "sha256:abc", command, {"WHO": "maggie"}, timeout,
                               LABELS, "ex:question",
                               (lines.append if lines is not None else lambda line: None))


def fake_engine(container: mock.Mock) -> tuple[Engine, mock.Mock]:
    engine, client = _fake_engine()
    client.containers = mock.Mock(spec=ContainerCollection)
    client.containers.create.return_value = container
    client.containers.list.return_value = []  # nothing left by an earlier run
    return engine, client


def fake_container(status: int = 0, stdout: bytes = b"", stderr: bytes = b"") -> mock.Mock:
    container = mock.Mock(spec=Container)
    container.wait.return_value = {"StatusCode": status}
    container.logs.side_effect = lambda **kw: stdout if kw["stdout"] else stderr
    return container


def test_run_once_success():
    container = fake_container(3, b"line 1\nAnswer: 42\n", b"warn\n")
    engine, client = fake_engine(container)
    lines: list[str] = []
    outcome = run_once(engine, lines, timeout=7)
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
    run_once(engine, command=None)
    assert client.containers.create.call_args.kwargs["command"] is None


def test_container_is_removed_when_start_raises():
    container = fake_container()
    container.start.side_effect = docker.errors.APIError("cannot start: no such network")
    engine, _ = fake_engine(container)
    with pytest.raises(EngineError, match="no such network"):  # translated at the boundary
        run_once(engine)
    container.remove.assert_called_once_with(force=True)
    container.wait.assert_not_called()


def test_timeout_is_an_engine_error_and_removes_the_container():
    container = fake_container()
    container.wait.side_effect = requests.exceptions.ReadTimeout()
    engine, _ = fake_engine(container)
    with pytest.raises(EngineError, match="did not finish within 5 s"):
        run_once(engine)
    container.remove.assert_called_once_with(force=True)


def test_interrupt_still_removes_the_container():
    container = fake_container()
    container.wait.side_effect = KeyboardInterrupt
    engine, _ = fake_engine(container)
    with pytest.raises(KeyboardInterrupt):
        run_once(engine)
    container.remove.assert_called_once_with(force=True)


def test_missing_image_is_an_engine_error():
    engine, client = fake_engine(fake_container())
    client.containers.create.side_effect = docker.errors.ImageNotFound("no such image")
    with pytest.raises(EngineError, match="gone from the engine"):
        containers.run_once(engine, "sha256:abcdef", None, {}, 5, LABELS, "ex:question",
                            lambda line: None)


def test_containers_left_by_a_killed_run_are_swept_first():
    engine, client = fake_engine(fake_container())
    stale = mock.Mock(spec=Container, short_id="abc123", labels=dict(LABELS))
    client.containers.list.return_value = [stale]
    run_once(engine)
    stale.remove.assert_called_once_with(force=True)
    filters = client.containers.list.call_args.kwargs["filters"]
    assert sorted(filters["label"]) == [f"{LABEL_PROJECT}=/p/.ac295", f"{LABEL_TASK}=ex:question"]


def test_a_shell_in_the_same_step_is_not_swept():
    """A person's `doit shell` container carries the step's labels too: a run leaves it."""
    engine, client = fake_engine(fake_container())
    shell = mock.Mock(spec=Container, short_id="def456", labels={**LABELS, LABEL_SHELL: "42"})
    client.containers.list.return_value = [shell]
    run_once(engine)
    shell.remove.assert_not_called()


def test_output_is_shown_as_it_comes_and_once():
    """Attached before the start, the lines show while the container still runs; what the
    stream missed (a last line without a newline) comes from the logs, nothing twice."""
    container = fake_container(0, b"Question\nAnswer: 42\ntail", b"")
    lines: list[str] = []
    container.attach.return_value = iter([b"Quest", b"ion\nAnswer: 42\n", b"ta"])

    def wait(timeout):
        deadline = __import__("time").monotonic() + 5
        while len(lines) < 2 and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.01)
        assert lines == ["Question", "Answer: 42"]  # shown before the container ended
        return {"StatusCode": 0}

    container.wait.side_effect = wait
    engine, client = fake_engine(container)
    outcome = run_once(engine, lines)
    assert lines == ["Question", "Answer: 42", "tail"]
    assert outcome.stdout == "Question\nAnswer: 42\ntail"  # the logs are what is checked
    container.attach.assert_called_once_with(stdout=True, stderr=False, stream=True, logs=True)


def test_a_broken_stream_leaves_the_logs_to_show_the_output():
    container = fake_container(0, b"a\nb\n", b"")

    def broken():
        yield b"a\n"
        raise requests.exceptions.ConnectionError("gone")

    container.attach.return_value = broken()
    engine, _ = fake_engine(container)
    lines: list[str] = []
    run_once(engine, lines)
    assert lines == ["a", "b"]
