"""doit's task runners, with one change: a task that could not run keeps its saved state.

With ``continue`` on (the project's default, so one failing exercise never stops the others),
doit reports each task whose dependency failed as an error ("unmet dependency") and, in the
same call, forgets that task's saved state (``Runner._handle_task_error`` calls
``remove_success``). The task never ran, yet the next run would remake it although nothing it
reads changed: after a student fixes ``Question.py``, ``push`` would push again beside the
check that reruns. Here such a task keeps what it had; a task that itself failed is forgotten
as doit does, so it runs again.

``tasks.commands.Run`` puts these classes in place of doit's for one run; ``tasks.watch``
builds its runner from them directly.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from doit import cmd_run
from doit.exceptions import UnmetDependency
from doit.runner import MRunner, MThreadRunner, Runner


class _KeepBlocked:
    """The mixin: skip ``remove_success`` for a task blocked by a failed dependency."""

    dep_manager: Any

    def _handle_task_error(self, node: Any, base_fail: Any) -> None:
        if not isinstance(base_fail, UnmetDependency):
            super()._handle_task_error(node, base_fail)  # type: ignore[misc]
            return
        manager = self.dep_manager
        manager.remove_success = lambda task: None  # this call only; the method comes back
        try:
            super()._handle_task_error(node, base_fail)  # type: ignore[misc]
        finally:
            del manager.remove_success


class KeepBlockedRunner(_KeepBlocked, Runner):
    """doit's serial runner."""


class KeepBlockedMRunner(_KeepBlocked, MRunner):
    """doit's process-pool runner (``-n N``)."""


class KeepBlockedMThreadRunner(_KeepBlocked, MThreadRunner):
    """doit's thread-pool runner (``-n N -P thread``, or where processes cannot fork)."""


@contextlib.contextmanager
def in_place() -> Iterator[None]:
    """doit's ``run`` command picks its runner class by these names while it runs."""
    saved = cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner
    cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner = (
        KeepBlockedRunner, KeepBlockedMRunner, KeepBlockedMThreadRunner)
    try:
        yield
    finally:
        cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner = saved
