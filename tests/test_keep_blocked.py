"""A task a failure blocked keeps its saved state; the failed task loses its own.

Runs doit's real runners on a real database in a temporary folder: ``check`` fails, ``push``
needs it. Expected states are written by hand: ``push`` ran once and succeeded, so its
saved values must still be there after the blocked run; ``check`` failed, so it has none.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from doit import cmd_run
from doit.dependency import DbmDB, Dependency
from doit.reporter import ZeroReporter
from doit.runner import Runner
from doit.task import Stream, Task
from doit.control import TaskControl

from tasks import keep_blocked


def _tasks(fail: bool) -> list[Task]:
    def check() -> bool:
        return not fail

    def push() -> dict[str, str]:
        return {"pushed": "yes"}

    return [Task("check", [check]),
            Task("push", [push], task_dep=["check"])]


def _run(runner_class: type, db: Path, fail: bool) -> None:
    manager = Dependency(DbmDB, str(db))
    control = TaskControl(_tasks(fail))
    control.process(None)
    runner = runner_class(manager, ZeroReporter(None, {}), continue_=True,
                          always_execute=False, stream=Stream(0))
    runner.run_all(control.task_dispatcher())
    manager.close()


def _saved(db: Path, name: str) -> dict:
    manager = Dependency(DbmDB, str(db))
    try:
        return dict(manager._get(name, "_values_:") or {})
    finally:
        manager.close()


@pytest.mark.parametrize("runner_class", [keep_blocked.KeepBlockedRunner,
                                          keep_blocked.KeepBlockedMThreadRunner])
def test_a_blocked_task_keeps_its_state_a_failed_one_loses_it(tmp_path, runner_class):
    db = tmp_path / "db"
    _run(runner_class, db, fail=False)
    assert _saved(db, "push") == {"pushed": "yes"}
    _run(runner_class, db, fail=True)
    assert _saved(db, "push") == {"pushed": "yes"}
    assert _saved(db, "check") == {}
    manager = Dependency(DbmDB, str(db))
    try:
        assert manager._get("check", "checker:") is None  # forgotten: it runs next time
        assert manager._get("push", "checker:") is not None
    finally:
        manager.close()


def test_doits_own_runner_forgets_the_blocked_task(tmp_path):
    """The behaviour the module exists for; if doit changes it, the module can go."""
    db = tmp_path / "db"
    _run(Runner, db, fail=False)
    _run(Runner, db, fail=True)
    assert _saved(db, "push") == {}


def test_in_place_swaps_the_run_commands_runners_and_puts_them_back():
    before = cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner
    with keep_blocked.in_place():
        assert cmd_run.Runner is keep_blocked.KeepBlockedRunner
        assert cmd_run.MRunner is keep_blocked.KeepBlockedMRunner
        assert cmd_run.MThreadRunner is keep_blocked.KeepBlockedMThreadRunner
    assert (cmd_run.Runner, cmd_run.MRunner, cmd_run.MThreadRunner) == before
