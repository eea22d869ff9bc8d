"""``doit shell``'s session on this terminal: set up, run, clean up, whatever ends it.

A kind's ``shell`` hook sets an environment up (under the run lock), and yields a
``Session``: the command to run on the terminal. Here that command runs in the foreground
until it ends, and the hook's context removes what it made:

- Ctrl-C and Ctrl-\\ reach the program (the terminal sends them to its whole foreground
  group): this process ignores them while the program runs, so that a Ctrl-C at a prompt
  does not end the session and skip the clean-up;
- SIGTERM and SIGHUP (the terminal was closed) are passed on to the program, which is
  killed if it has not ended a few seconds later; then the clean-up runs, and the exit code
  is the signal's (128 + N), as a shell reports it;
- before the program runs (set-up), Ctrl-C, SIGTERM and SIGHUP interrupt the set-up, which
  removes what it had made.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable, ContextManager, Sequence

from .errors import ShellError
from .kinds.base import Session

#: Seconds a program has to end after SIGTERM or SIGHUP was passed on to it.
GRACE = 5.0


def has_terminal() -> bool:
    """True if this process's input and output are a terminal (``-it`` needs one)."""
    return os.isatty(0) and os.isatty(1)


def code_of(returncode: int) -> int:
    """A process's exit code as a shell reports it: 128 + N when signal N ended it."""
    return 128 - returncode if returncode < 0 else returncode


def foreground(argv: Sequence[str], grace: float = GRACE, poll: float = 0.2) -> int:
    """Run ``argv`` on this terminal until it ends; its exit code (see the module).

    Raises:
        ShellError: the program is missing.
    """
    try:
        proc = subprocess.Popen(list(argv))
    except FileNotFoundError:
        raise ShellError(f"{argv[0]} is missing on this machine; run script/bootstrap.") from None
    passed: list[int] = []
    since = [0.0]

    def pass_on(signum: int, frame: Any) -> None:
        if not passed:
            since[0] = time.monotonic()
        passed.append(signum)
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {signum: signal.signal(signum, handler) for signum, handler in (
        (signal.SIGINT, signal.SIG_IGN), (signal.SIGQUIT, signal.SIG_IGN),
        (signal.SIGTERM, pass_on), (signal.SIGHUP, pass_on))}
    try:
        while True:
            try:
                returncode = proc.wait(timeout=poll)
                break
            except subprocess.TimeoutExpired:
                if passed and time.monotonic() - since[0] > grace:
                    proc.kill()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 + passed[0] if passed else code_of(returncode)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM or SIGHUP while the environment is set up: end it as Ctrl-C does, by name."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run(opened: ContextManager[Session], say: Callable[[str], None],
        run_program: Callable[[Sequence[str]], int] = foreground) -> int:
    """Set the environment up, run its session on the terminal, clean up; the exit code.

    ``say`` reports one line before the session opens (on stderr for ``doit shell``). An
    interrupt during the set-up ends with 130 (Ctrl-C) or 128 + N. While the clean-up runs,
    Ctrl-C, SIGTERM and SIGHUP are ignored: it always finishes.
    """
    previous = {signum: signal.signal(signum, _interrupt)
                for signum in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.getsignal(signal.SIGINT)
    made = contextlib.ExitStack()
    try:
        session = made.enter_context(opened)
        say(f"ac295: {session.what}. `exit` ends it; what was made for it is removed.")
        return session.exit_code(run_program(session.argv))
    except KeyboardInterrupt as err:
        name = str(err.args[0]) if err.args else "SIGINT"
        say(f"ac295: stopped by {name}; nothing made for the shell is left.")
        return 128 + int(getattr(signal, name, signal.SIGINT))
    finally:
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)
        try:
            made.close()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def stderr_line(text: str) -> None:
    """Write one line to stderr (the session's own output goes to stdout)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
