"""How kinds talk to doit: wrapped actions, named up-to-date checks, records, progress.

- ``Action`` wraps every Python action: the project's errors become doit's ``TaskFailed`` (one
  paragraph, no traceback) here and nowhere else. Library exceptions were translated at the
  engine boundary already; anything else is a bug and keeps its traceback.
- ``Check`` wraps every up-to-date check: it answers doit with a bool, remembers why
  (``Verdict``), and prints as that reason, so ``doit info`` and ``why`` can say it.
- ``recorded`` is the one place a step's record is removed at the start and written last.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from doit.exceptions import TaskError, TaskFailed

from ..errors import Ac295Error, ArchiveMoved
from . import records


_SIGNATURES: dict[Any, inspect.Signature] = {}


def _signature(function: Callable[..., Any]) -> inspect.Signature:
    """``inspect.signature``, once per function (a project of 1000 steps asks 4000 times)."""
    found = _SIGNATURES.get(function)
    if found is None:
        found = _SIGNATURES[function] = inspect.signature(function)
    return found


class Action:
    """A Python action of a task; our errors come back as ``TaskFailed``, never a traceback."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.__name__ = getattr(function, "__name__", "action")
        self.__doc__ = getattr(function, "__doc__", None)
        # doit passes a task's command-line params to the parameters named like them
        self.__signature__ = _signature(function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = self.function(*args, **kwargs)
        except ArchiveMoved as err:  # a distinct exit code: doit exits 2 for a TaskError
            return TaskError(str(err))
        except Ac295Error as err:
            return TaskFailed(str(err))
        return None if result is None else result

    def __repr__(self) -> str:
        return f"<action {self.__name__}>"


def action(function: Callable[..., Any], *args: Any) -> tuple[Action, tuple[Any, ...]]:
    """A doit python-action tuple: ``function(*args)`` wrapped in ``Action``."""
    return (Action(function), args)


@dataclass(frozen=True)
class Verdict:
    """What an up-to-date check found: fresh or not, and the reason in the project's words."""

    fresh: bool
    reason: str


def stale(reason: str) -> Verdict:
    """The step must run, because ``reason``."""
    return Verdict(False, reason)


def fresh(checked: str) -> Verdict:
    """The step is up to date; ``checked`` says what was compared."""
    return Verdict(True, checked)


class Check:
    """An up-to-date check for doit's ``uptodate``: a bool for doit, a reason for people.

    Errors of the project (engine or registry unreachable, an unreadable file) count as
    "not up to date": the action then runs and reports the same problem as a failure.
    """

    def __init__(self, what: str, function: Callable[..., Verdict | bool], *args: Any) -> None:
        self.what = what
        self.function = function
        self.args = args
        self.last: Verdict | None = None

    def verdict(self) -> Verdict:
        """Run the check and return its verdict (also kept in ``last``)."""
        try:
            found = self.function(*self.args)
        except (Ac295Error, OSError) as err:
            found = stale(f"cannot be checked ({err})")
        if isinstance(found, bool):
            found = Verdict(found, self.what)
        self.last = found
        return found

    def __call__(self) -> bool:
        return self.verdict().fresh

    def __repr__(self) -> str:
        return f"{self.what}: {self.last.reason}" if self.last else self.what


class Always:
    """The check of an ephemeral step: never up to date, and it says why."""

    def __init__(self, why: str) -> None:
        self.why = why
        self.last = stale(why)

    def verdict(self) -> Verdict:
        return self.last

    def __call__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"runs every time: {self.why}"


@dataclass
class Recording:
    """The record a step is writing; set ``data`` (and ``local``) before the block ends."""

    data: dict[str, Any] | None = None
    local: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def recorded(record: Path, task: str) -> Iterator[Recording]:
    """Remove a step's record now, write it when the block ends without an error.

    A failed or interrupted step so leaves no record claiming success, and the next run
    redoes it. The record is written last, after everything the step made.
    """
    records.remove(record)
    records.remove(records.local_of(record))
    recording = Recording()
    yield recording
    if recording.data is None:
        raise AssertionError(f"{task}: the action set no record")
    if recording.local:
        records.write(records.local_of(record), {"task": task, **recording.local})
    records.write(record, {"task": task, **recording.data})
