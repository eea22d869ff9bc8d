"""A session on the terminal: exit codes, signals while it runs, clean-up whatever ends it."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Iterator

import pytest

from tasks import terminal
from tasks.errors import ShellError
from tasks.kinds.base import Session


def later(seconds: float, signum: int) -> threading.Timer:
    """Send this process ``signum`` in ``seconds`` (as a terminal or `kill` would)."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signum))
    timer.start()
    return timer


def test_the_programs_exit_code_comes_back():
    assert terminal.foreground(["sh", "-c", "exit 5"]) == 5


def test_a_program_ended_by_a_signal_reports_128_plus_it():
    assert terminal.foreground(["sh", "-c", "kill -TERM $$"]) == 143


def test_ctrl_c_reaches_the_program_not_this_process():
    """The terminal sends Ctrl-C to its whole foreground group: the session goes on."""
    later(0.3, signal.SIGINT)
    assert terminal.foreground(["sh", "-c", "trap '' INT; sleep 1; exit 4"]) == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_sigterm_is_passed_on_and_ends_the_session():
    later(0.3, signal.SIGTERM)
    started = time.monotonic()
    assert terminal.foreground(["sleep", "30"]) == 143
    assert time.monotonic() - started < 10


def test_a_program_that_ignores_sigterm_is_killed_after_the_grace():
    later(0.3, signal.SIGHUP)
    started = time.monotonic()
    code = terminal.foreground(["sh", "-c", "trap '' HUP TERM; sleep 30"], grace=0.5)
    assert code == 128 + signal.SIGHUP
    assert time.monotonic() - started < 10


def test_a_missing_program_is_said():
    with pytest.raises(ShellError, match="no-such-program is missing"):
        terminal.foreground(["no-such-program"])


class Environment:
    """A fake environment: what it made and removed, in order."""

    def __init__(self, fail_setup: BaseException | None = None) -> None:
        self.events: list[str] = []
        self.fail_setup = fail_setup

    @contextlib.contextmanager
    def opened(self) -> Iterator[Session]:
        self.events.append("made")
        try:
            if self.fail_setup is not None:
                raise self.fail_setup
            yield Session(["prog"], "the env", lambda code: code + 100)
        finally:
            self.events.append("removed")


def test_run_says_what_it_opens_and_returns_the_shells_code():
    env = Environment()
    said: list[str] = []
    code = terminal.run(env.opened(), said.append,
                        run_program=lambda argv: env.events.append(" ".join(argv)) or 7)
    assert code == 107  # the session's own reading of the program's code
    assert env.events == ["made", "prog", "removed"]
    assert said == ["ac295: the env. `exit` ends it; what was made for it is removed."]


def test_ctrl_c_while_setting_up_cleans_up_and_ends_with_130():
    env = Environment(fail_setup=KeyboardInterrupt())
    said: list[str] = []
    assert terminal.run(env.opened(), said.append, run_program=lambda argv: 0) == 130
    assert env.events == ["made", "removed"]
    assert "stopped by SIGINT" in said[-1]


def test_sigterm_while_setting_up_cleans_up_and_ends_with_143():
    env = Environment()

    @contextlib.contextmanager
    def slow() -> Iterator[Session]:
        with env.opened() as session:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives during the set-up
            time.sleep(1)
            yield session

    said: list[str] = []
    assert terminal.run(slow(), said.append, run_program=lambda argv: 0) == 143
    assert env.events == ["made", "removed"]
    assert "SIGTERM" in said[-1]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back


def test_an_error_while_setting_up_propagates_after_the_clean_up():
    env = Environment(fail_setup=ShellError("ex:image has not run"))
    with pytest.raises(ShellError):
        terminal.run(env.opened(), lambda line: None, run_program=lambda argv: 0)
    assert env.events == ["made", "removed"]


def test_signals_during_the_clean_up_do_not_stop_it():
    events: list[str] = []

    @contextlib.contextmanager
    def opened() -> Iterator[Session]:
        try:
            yield Session(["prog"], "the env")
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while it cleans up
            time.sleep(0.2)
            events.append("removed all")

    assert terminal.run(opened(), lambda line: None, run_program=lambda argv: 0) == 0
    assert events == ["removed all"]
