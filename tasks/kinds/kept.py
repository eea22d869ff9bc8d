"""Failures that keep their evidence: what the steps that run a container or build an image
keep when they fail, and the last line of their error, which opens it.

``kept(rt, task)`` wraps such a step's action: the step's earlier evidence goes first (a
step that runs again replaces it, so there is at most one per step), and an error after
which evidence was kept ends with the exact command that opens a shell in it::

    The state it failed in is kept (ac295-failed:exercise2.question); look inside with:
    script/doit shell exercise2:question

What is kept, and how, is ``tasks.engine.evidence``'s.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from ..engine import evidence
from ..errors import Ac295Error
from ..names import shell_line
from .runtime import Runtime


def prefix(rt: Runtime) -> str:
    """The project copy's prefix of local names (``local_prefix``)."""
    return rt.config.variables.get("local_prefix", "")


def no_failure(outcome: Any) -> str:
    """The judge of a step whose every outcome is a success (its checks come later)."""
    return ""


def opening(message: str, task: str, name: str) -> str:
    """An error's message, ended by the lines that say where the failed state is and the
    exact command that opens it (the last line)."""
    return (f"{message.rstrip()}\nThe state it failed in is kept ({name}); look inside with:\n"
            f"{shell_line(task)}")


@contextlib.contextmanager
def kept(rt: Runtime, task: str, judge: Callable[[Any], str] = no_failure
         ) -> Iterator[evidence.Keep]:
    """Around the action of a step that keeps its failed state (see the module).

    Yields the ``Keep`` to pass to the engine (``judge`` says what of an outcome is a
    failure). Asking the engine what was kept is a courtesy: if it fails, the step's own
    error stands as it was.
    """
    name = evidence.reference(prefix(rt), task)
    evidence.clear(rt.engine, task, name)
    try:
        yield evidence.Keep(task, name, judge)
    except Ac295Error as err:
        try:
            found = evidence.find(rt.engine, task)
        except Ac295Error:
            found = None
        if found is not None:
            err.args = (opening(str(err), task, found.name or found.id[:19]),)
        raise
