"""One run at a time per project copy: a lock held by the doit process that runs tasks.

Two doit runs on one tree would build, push and write records at once. The first run takes
``<state>/run.lock`` (an flock: the kernel drops it when the process ends, even on SIGKILL,
so a killed run never leaves a stale lock); a second one says who holds it and waits.
Commands that only read (list, info, help, ...) take no lock.
"""
from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import IO, Sequence

#: doit commands that run no task and write nothing.
READ_ONLY = frozenset({"list", "info", "help", "dumpdb", "tabcompletion"})
_held: list[IO[str]] = []  # keeps the lock's file open for the life of the process


def command_of(argv: Sequence[str]) -> str:
    """The doit command in ``argv`` (``run`` when none is named)."""
    for arg in argv[1:]:
        if not arg.startswith("-"):
            return arg if arg in READ_ONLY or arg in ("run", "clean", "forget", "ignore",
                                                      "reset-dep", "strace", "auto") else "run"
    return "run"


def hold(state: Path, argv: Sequence[str] = sys.argv) -> bool:
    """Take the run lock unless the command only reads; wait, saying so, if another has it.

    Returns True if this process now holds the lock.
    """
    if command_of(argv) in READ_ONLY or _held:
        return bool(_held)
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
    _held.append(handle)
    return True
