"""What a doit process that runs tasks sets up: signals, the run lock, how an interrupt ends.

``dodo.py`` calls ``prepare`` explicitly; importing this module (or loading a project in a
test) changes nothing in the process. Commands that only read (list, info, help, ...) get
none of it: they take no lock and walk no /proc.

- SIGTERM (a CI timeout, ``docker stop``, ``kill``) ends a run as Ctrl-C does: by default it
  kills Python at once, so doit would save nothing of the tasks that finished and services
  would stay up. As a KeyboardInterrupt it goes through doit's ``finally``, and the reporter
  (``tasks.reporter``) says in one line what was stopped. The interrupt then ends the
  process with 130 (SIGINT) or 143 (SIGTERM), the shell's codes, and no traceback.
- One run at a time per project copy: two doit runs on one tree would build, push and write
  records at once. The first run takes ``<state>/run.lock`` (an flock: the kernel drops it
  when the process ends, even on SIGKILL, so a killed run never leaves a stale lock); a second
  one says who holds it and waits.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from .names import READ_ONLY, WRITING

_held: list[IO[str]] = []  # keeps the lock's file open for the life of the process
_signals: list[str] = []  # the signals that interrupted this process, first one first
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


def interrupted() -> str:
    """The name of the signal that interrupted this run ("" if none did)."""
    return _signals[0] if _signals else ""


def command_of(argv: Sequence[str]) -> str:
    """The doit command in ``argv`` (``run`` when none is named)."""
    for arg in argv[1:]:
        if not arg.startswith("-"):
            return arg if arg in READ_ONLY or arg in WRITING else "run"
    return "run"


def prepare(state: Path, argv: Sequence[str] = sys.argv) -> None:
    """Set up a doit process that will run tasks; for read-only commands, only a quiet
    Ctrl-C (one line, exit 130; the project's own commands say it themselves)."""
    if command_of(argv) in READ_ONLY:
        sys.excepthook = _end_read_only_on_interrupt
        return
    terminate_like_ctrl_c()
    sys.excepthook = _end_quietly_on_interrupt
    hold(state, argv)


def terminate_like_ctrl_c() -> None:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, and remember which."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
        signal.signal(signal.SIGINT, _raise_interrupt)


def _end_quietly_on_interrupt(kind: type[BaseException], value: BaseException,
                              traceback: Any) -> None:
    """The excepthook of a run: an interrupt ends it with 130 or 143 and no traceback."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    name = interrupted() or "SIGINT"
    if not _said:
        sys.stderr.write(f"ac295: stopped by {name} before any task ran.\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_CODES.get(name, 130))


def _end_read_only_on_interrupt(kind: type[BaseException], value: BaseException,
                                traceback: Any) -> None:
    """The excepthook of a command that only reads: Ctrl-C ends it with one line."""
    if not issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    sys.stderr.write("ac295: stopped by SIGINT.\n")
    sys.stderr.flush()
    os._exit(130)


_said: list[bool] = []  # the reporter said the interrupt already


def said_interrupt() -> None:
    """Note that the interrupt was reported (so the exit says nothing more)."""
    _said.append(True)


def _raise_interrupt(signum: int, frame: Any) -> None:
    name = signal.Signals(signum).name
    first = not _signals
    _signals.append(name)
    if len(_signals) == 2:
        return  # a second Ctrl-C while the first is handled: let the clean-up finish
    if not first:
        raise KeyboardInterrupt(name)  # a third one: stop now
    if signum == signal.SIGINT:
        raise KeyboardInterrupt(name)
    # Ctrl-C reaches the whole foreground group; a SIGTERM only doit. Pass it on to the
    # recipes doit is waiting for (same session; the registry has its own), or doit would
    # wait for them to end before it can save and tear down.
    for pid in descendants(os.getpid()):
        try:
            if os.getsid(pid) == os.getsid(0):
                os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    raise KeyboardInterrupt(name)


def descendants(root: int) -> list[int]:
    """Pids of the processes below ``root``, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def hold(state: Path, argv: Sequence[str] = sys.argv) -> bool:
    """Take the run lock unless the command only reads; wait, saying so, if another has it.

    Returns True if this process now holds the lock.
    """
    if command_of(argv) in READ_ONLY or _held:
        return bool(_held)
    _held.append(_take(state))
    return True


@contextlib.contextmanager
def locked(state: Path) -> Iterator[None]:
    """Hold the run lock for a block only (``doit shell`` sets its environment up under
    it), waiting and saying so while another process holds it."""
    if _held:  # this process holds it for its whole life already
        yield
        return
    handle = _take(state)
    try:
        yield
    finally:
        handle.close()  # closing the file lets the flock go


def _take(state: Path) -> IO[str]:
    """Take ``<state>/run.lock``, waiting (and saying who holds it) if another has it."""
    state.mkdir(parents=True, exist_ok=True)
    handle = open(state / "run.lock", "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        sys.stderr.write(f"ac295: another run (pid {holder}) holds {state / 'run.lock'}; "
                         "waiting for it to finish...\n")
        sys.stderr.flush()
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def kill_group(proc: Any) -> None:
    """SIGKILL the process group a child was started in (``start_new_session=True``): the
    child and whatever it started, whether or not it is still there."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(proc: Any, grace: float = 30) -> None:
    """Ask a child to end (SIGTERM), so that it cleans up; SIGKILL it after ``grace`` s."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except Exception:  # subprocess.TimeoutExpired, without importing subprocess here
        proc.kill()
