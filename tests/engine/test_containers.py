"""One-shot containers and commits against a spec'd fake client: create, wait, always remove."""
from __future__ import annotations

import time
from unittest import mock

import docker
import docker.errors
import pytest
import requests
from docker.models.containers import Container, ContainerCollection

from helpers import fake_engine as _fake_engine
from tasks.engine import containers
from tasks.engine.client import LABEL_PROJECT, LABEL_TASK, Engine
from tasks.engine.containers import Isolation, Outcome
from tasks.engine.shells import LABEL_SHELL
from tasks.errors import EngineError, RunLimit

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


class Frames:
    """What ``attach(stream=True, demux=True)`` gives: (stdout, stderr) chunks, closable;
    ``taken`` counts the chunks read, so a test sees what was never read."""

    def __init__(self, frames: list[tuple[bytes | None, bytes | None]]) -> None:
        self.frames, self.taken, self.closed = iter(frames), 0, False

    def __iter__(self):
        return self

    def __next__(self):
        frame = next(self.frames)
        self.taken += 1
        return frame

    def close(self) -> None:
        self.closed = True


def fake_container(status: int = 0, stdout: bytes = b"", stderr: bytes = b"",
                   frames: list | None = None) -> mock.Mock:
    container = mock.Mock(spec=Container)
    container.wait.return_value = {"StatusCode": status}
    container.logs.side_effect = lambda **kw: stdout if kw["stdout"] else stderr
    container.frames = Frames(frames if frames is not None else
                              [(stdout[:4], None), (None, stderr), (stdout[4:], None)])
    container.attach.return_value = container.frames
    return container


#: The isolation of a one-shot container, written out by hand (docs/writing-exercises.md).
ISOLATED = dict(privileged=False, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                mem_limit=2 << 30, memswap_limit=2 << 30, nano_cpus=1_000_000_000,
                pids_limit=256, read_only=True,
                tmpfs={"/tmp": "rw,nosuid,nodev,size=67108864,mode=1777"},
                log_config={"type": "json-file", "config": {"max-size": "16m",
                                                            "max-file": "2"}},
                network_mode="none")


def test_run_once_success():
    container = fake_container(3, b"line 1\nAnswer: 42\n", b"warn\n")
    engine, client = fake_engine(container)
    lines: list[str] = []
    outcome = run_once(engine, lines, timeout=7)
    assert outcome == Outcome(3, "line 1\nAnswer: 42\n", "warn\n")
    client.containers.create.assert_called_once_with(
        "sha256:abc", command=["python3", "/q.py"], environment={"WHO": "maggie"},
        labels={LABEL_TASK: "ex:question", LABEL_PROJECT: "/p/.ac295"}, detach=True,
        **ISOLATED)
    # attached before it starts: nothing it prints is missed
    assert container.method_calls.index(mock.call.attach(
        stdout=True, stderr=True, stream=True, logs=False, demux=True)) < \
        container.method_calls.index(mock.call.start())
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
    assert container.frames.closed
    container.wait.assert_not_called()


RUNC_MISSING = ('failed to create shim task: OCI runtime create failed: runc create failed: '
                'unable to start container process: exec: "nosuch": executable file not '
                'found in $PATH: unknown')


@pytest.mark.parametrize("explanation, command, words", [
    (RUNC_MISSING, ["nosuch", "-x"], "ex:question: the image has no program 'nosuch', which "
     "the step's 'command:' runs. Fix the step's 'command:', or install the program in the "
     "image."),
    (RUNC_MISSING, None, "ex:question: the image has no program 'nosuch', which the image's "
     "CMD or ENTRYPOINT runs. Fix the image's CMD or ENTRYPOINT, or install the program in "
     "the image."),
    ("no command specified", None, "ex:question: the image has no command (no CMD or "
     "ENTRYPOINT) and the step gives none. Add 'command:' to the step."),
])
def test_a_container_that_cannot_start_is_said_in_the_steps_words(explanation, command,
                                                                   words):
    container = fake_container()
    container.start.side_effect = docker.errors.APIError("500 Server Error",
                                                         explanation=explanation)
    engine, _ = fake_engine(container)
    with pytest.raises(EngineError) as caught:
        run_once(engine, command=command)
    assert str(caught.value) == words
    container.remove.assert_called_once_with(force=True)


@pytest.mark.parametrize("isolation, changed", [
    (Isolation(network="grd-net"), {"network": "grd-net"}),
    (Isolation(user="1000:1000"), {"user": "1000:1000", "network_mode": "none"}),
    (Isolation(writable=True), {"read_only": False, "network_mode": "none"}),
])
def test_a_step_asks_for_a_network_a_user_or_a_writable_root(isolation, changed):
    engine, client = fake_engine(fake_container())
    containers.run_once(engine, "sha256:abc", None, {}, 5, LABELS, "ex:q", lambda line: None,
                        isolation)
    options = client.containers.create.call_args.kwargs
    expected = {k: v for k, v in ISOLATED.items() if k != "network_mode"}
    expected.update(changed)
    assert {k: v for k, v in options.items() if k in expected} == expected
    assert set(options) - set(expected) == {"command", "environment", "labels", "detach"}


def test_output_past_the_cap_kills_it_and_is_never_read():
    frames = [(b"a" * 600_000, None), (None, b"warn\n"), (b"b" * 600_000, None)] + \
        [(b"c" * 1000, None)] * 1000  # what it would print next
    container = fake_container(137, frames=frames)
    engine, _ = fake_engine(container)
    with pytest.raises(RunLimit, match="more than 1 MB on stdout") as raised:
        run_once(engine)
    assert raised.value.reason == "output too large: more than 1 MB on stdout"
    container.kill.assert_called_once_with()
    assert container.frames.taken == 3 and container.frames.closed
    container.remove.assert_called_once_with(force=True)


def test_output_up_to_the_cap_is_kept_whole():
    frames = [(b"a" * (1 << 20), None), (None, b"e" * (1 << 20))]
    engine, _ = fake_engine(fake_container(0, frames=frames))
    outcome = run_once(engine)
    assert (len(outcome.stdout), len(outcome.stderr)) == (1 << 20, 1 << 20)


def test_timeout_is_a_run_limit_and_kills_and_removes_the_container():
    container = fake_container()
    container.wait.side_effect = requests.exceptions.ReadTimeout()
    engine, _ = fake_engine(container)
    with pytest.raises(RunLimit, match="did not finish within 5 s") as raised:
        run_once(engine)
    assert raised.value.reason == "timed out: still running after 5 s"
    container.kill.assert_called_once_with()
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


@pytest.mark.parametrize("size, lines, reason", [
    (1 << 20, 20_000, ""),
    ((1 << 20) + 1, 0, "output too large: more than 1 MB on stdout"),
    (10, 20_001, "output too large: more than 20000 lines on stdout"),
])
def test_the_caps_are_a_megabyte_and_twenty_thousand_lines(size, lines, reason):
    assert Isolation().too_large("stdout", size, lines) == reason


def test_many_short_lines_pass_the_line_cap():
    frames = [(b"y\n" * 10_000, None)] * 3  # 60 KB, but 30000 lines
    container = fake_container(137, frames=frames)
    engine, _ = fake_engine(container)
    with pytest.raises(RunLimit) as raised:
        run_once(engine)
    assert raised.value.reason == "output too large: more than 20000 lines on stdout"
    assert container.frames.taken == 3
    container.kill.assert_called_once_with()


def test_a_shell_in_the_same_step_is_not_swept():
    """A person's `doit shell` container carries the step's labels too: a run leaves it."""
    engine, client = fake_engine(fake_container())
    shell = mock.Mock(spec=Container, short_id="def456", labels={**LABELS, LABEL_SHELL: "42"})
    client.containers.list.return_value = [shell]
    run_once(engine)
    shell.remove.assert_not_called()


def test_output_is_shown_as_it_comes_and_once():
    """Attached before the start, the lines show while the container still runs; its last
    line without a newline is shown at the end; nothing twice; what is shown is checked."""
    lines: list[str] = []
    container = fake_container(0, frames=[(b"Quest", None), (b"ion\nAnswer: 42\n", None),
                                          (None, b"warn\n"), (b"ta", None), (b"il", None)])

    def wait(timeout):
        deadline = time.monotonic() + 5
        while len(lines) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lines == ["Question", "Answer: 42"]  # shown before the container ended
        return {"StatusCode": 0}

    container.wait.side_effect = wait
    engine, _ = fake_engine(container)
    outcome = run_once(engine, lines)
    assert lines == ["Question", "Answer: 42", "tail"]
    assert outcome == Outcome(0, "Question\nAnswer: 42\ntail", "warn\n")


def test_a_broken_stream_is_an_engine_error_not_a_partial_outcome():
    container = fake_container(0)

    def broken():
        yield (b"a\n", None)
        raise requests.exceptions.ConnectionError("gone")

    stream = mock.Mock()
    stream.__iter__ = lambda self: broken()
    container.attach.return_value = stream
    engine, _ = fake_engine(container)
    with pytest.raises(EngineError, match="lost the connection"):
        run_once(engine)
    container.remove.assert_called_once_with(force=True)
