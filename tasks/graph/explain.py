"""Why each task would run, or that it is up to date: a truthful status, with reasons.

doit's own ``list --status`` asks each task alone; a step downstream of one that will run
says "up to date" and then runs. Here statuses are worked out in the graph's order, from the
current spec, doit's database and the checks' answers, every time:

- ``run`` (R): it surely runs: a key of the step changed, its result is missing, it has not
  run here yet, or an input changed that no task running first can put back; the reasons
  come from its checks, in the project's words, each once;
- ``may`` (~): its own checks pass but a task it reads runs first, or what its checks found
  changed is made by a task that runs first: it runs only if that task makes a different
  result (records hold results by content, so a remake of the same result stops there);
- ``always`` (A): ephemeral by design (services, networks, phony recipes);
- ``fresh`` (U): up to date, with what was checked.

A task that failed in its last run says so first, with the first line of its error (the
reporter notes failures, ``failed_path``); a broken exercise's task says its current error.
``tasks.commands`` prints these for ``why``, ``status``, ``graph`` and ``list --status``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from doit.tools import config_changed

from ..kinds.actions import Always, Check
from ..names import shell_line

MARK = {"run": "R", "may": "~", "always": "A", "fresh": "U"}


class StepConfig(config_changed):
    """doit's ``config_changed``, which also remembers the config, to name what changed.

    The config may be given as a function that makes it: it is then made only when doit
    checks the task, so `doit list` and runs of other tasks never pay for it.
    """

    def __init__(self, config: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        self._make = config if callable(config) else None
        self._config = None if callable(config) else config
        super().__init__(self._config)
        self.changed: list[str] | None = []

    @property  # type: ignore[override]
    def config(self) -> dict[str, Any]:
        if self._config is None and self._make is not None:
            self._config = self._make()
        return self._config or {}

    @config.setter
    def config(self, value: dict[str, Any] | None) -> None:
        if value is not None:
            self._config = value

    def configure_task(self, task: Any) -> None:
        task.value_savers.append(lambda: {"_config_changed": self.config_digest,
                                          "_config": self.config})

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        same = bool(super().__call__(task, values))
        old = values.get("_config")
        if same or not isinstance(old, dict) or not isinstance(self.config, dict):
            self.changed = [] if same else None
        else:
            self.changed = sorted(k for k in set(old) | set(self.config)
                                  if old.get(k) != self.config.get(k))
        return same

    def reason(self) -> str:
        if self.changed is None:
            return "its keys in exercise.yml were not recorded"
        return "its " + ", ".join(f"'{k}'" for k in self.changed) + " changed in exercise.yml"

    def __repr__(self) -> str:
        return "the step's keys in exercise.yml"


@dataclass
class Status:
    """One task's state and the reasons for it."""

    task: str
    state: str = "fresh"
    reasons: list[str] = field(default_factory=list)
    failed: str = ""  # the message of its last failure, if it failed last time

    def line(self) -> str:
        words = {"run": "will run", "may": "may run", "always": "runs every time",
                 "fresh": "up to date"}[self.state]
        return f"{words}: {'; '.join(self.reasons)}" if self.reasons else words


#: The reason of a task that never succeeded here.
NOT_RUN = "it has not run here yet"
#: The key of a broken exercise's task ``meta`` that holds its current error.
BROKEN = "ac295_broken"


def failure_reason(message: str) -> str:
    """How ``why`` says that a task failed in its last run, in one line (``failure_words``)."""
    return f"failed last time: {failure_words(message)}"


def failure_words(message: str) -> str:
    """A failure in one line: the error's first line and, when the step kept the state it
    failed in, the command that opens it (the error's last line)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "no message"
    opens = shell_line("")
    if len(lines) > 1 and lines[-1].startswith(opens):
        return f"{lines[0]}; look inside: {lines[-1]}"
    return lines[0]


def failed_path(dep_file: str | Path) -> Path:
    """Where the reporter notes the tasks that failed in the last run, beside doit's database."""
    return Path(dep_file).parent / "failed.json"


def read_failures(dep_file: str | Path) -> dict[str, str]:
    try:
        found = json.loads(failed_path(dep_file).read_text())
        return {str(k): str(v) for k, v in found.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def closure(tasks: dict[str, Any], names: Iterable[str]) -> list[str]:
    """The named tasks and every task they need (task_dep, setup, file_dep producers), in an
    order where each comes after what it needs."""
    makers = {target: t.name for t in tasks.values() for target in t.targets}
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in tasks:
            return
        seen.add(name)
        task = tasks[name]
        for other in list(task.task_dep) + list(task.setup_tasks) + \
                [makers[f] for f in sorted(task.file_dep) if f in makers]:
            visit(other)
        order.append(name)

    for name in names:
        visit(name)
    return order


def statuses(tasks: dict[str, Any], dep_manager: Any, names: Iterable[str],
             failures: dict[str, str] | None = None) -> dict[str, Status]:
    """The status of the named tasks and of everything they need (see the module's doc).

    Everything is read now: the task dicts of the current spec, doit's database and the
    checks' answers; only the first line of a noted failure comes from the last run.
    """
    makers = {target: t.name for t in tasks.values() for target in t.targets}
    names = list(names)
    found: dict[str, Status] = {}
    for name in closure(tasks, names):
        status = found[name] = _status(tasks[name], tasks, dep_manager, makers, found)
        if not (tasks[name].meta or {}).get(BROKEN):  # a broken one says its error now
            status.failed = (failures or {}).get(name, "")
    _setups_follow_their_users(tasks, found, set(names), makers)
    for status in found.values():
        if status.failed:  # it ran, and failed: that says more than "not run here yet"
            status.reasons = _once([failure_reason(status.failed)]
                                   + [r for r in status.reasons if r != NOT_RUN])
    return found


def _setups_follow_their_users(tasks: dict[str, Any], found: dict[str, Status],
                               named: set[str], makers: dict[str, str]) -> None:
    """doit runs a setup task (the local registry's start) only for a task that runs: one
    that was not asked for by name does what the most eager of its users does."""
    needed = {d for n in found for d in tasks[n].task_dep} | \
        {makers[f] for n in found for f in tasks[n].file_dep if f in makers}
    order = ("fresh", "always", "may", "run")
    for name, status in found.items():
        users = [found[u] for u in found if name in tasks[u].setup_tasks]
        if name in named or name in needed or not users or status.state == "fresh":
            continue
        eager = max((u.state for u in users), key=order.index)
        if eager == "fresh":
            status.state, status.reasons = "fresh", [
                "only set up for a task that runs, and " + ", ".join(u.task for u in users)
                + (" is" if len(users) == 1 else " are") + " up to date"]
        elif eager == "may" and status.state == "run":
            status.state = "may"
            status.reasons = status.reasons + [
                "set up only if " + ", ".join(u.task for u in users if u.state == "may")
                + " runs"]


def _status(task: Any, tasks: dict[str, Any], dep_manager: Any, makers: dict[str, str],
            found: dict[str, Status]) -> Status:
    """One task's status, given those of the tasks before it in the graph's order."""
    status = Status(task.name)
    broken = (task.meta or {}).get(BROKEN)
    if broken:  # the error of the spec as it is now, never the one of the last run
        status.state, status.reasons = "run", [f"broken: {broken}"]
        return status
    if not task.actions:  # a group task: it runs what it names
        return status
    always = [u for u, _, _ in task.uptodate if isinstance(u, Always)]
    if always:
        status.state, status.reasons = "always", [always[0].why]
        return status
    result = dep_manager.get_status(task, tasks, get_log=True)
    moving = sorted({makers[f] for f in task.file_dep if f in makers
                     and found.get(makers[f]) is not None
                     and found[makers[f]].state in ("run", "may")})
    if result.status == "up-to-date":
        if moving:
            status.state = "may"
            status.reasons = [f"only if {', '.join(moving)} makes a different result"]
        else:
            checked = [u.last.reason for u, _, _ in task.uptodate
                       if isinstance(u, Check) and u.last is not None]
            status.reasons = _once(checked) or ["its inputs are as recorded"]
        return status
    sure, unsure = _reasons(task, result, makers, set(moving),
                            _ran_here(dep_manager, task.name))
    if sure or not moving:
        status.state, status.reasons = "run", _once(sure + unsure)
    else:  # each reason is an input that what runs first may make again as it was
        status.state, status.reasons = "may", _once(unsure)
        status.reasons[-1] += (f", but {', '.join(moving)} runs first and may make it "
                               "again as it was")
    return status


def _ran_here(dep_manager: Any, name: str) -> bool:
    """True if doit saved a success of the task (``save_success`` writes its checker)."""
    return dep_manager._get(name, "checker:") is not None


def _once(reasons: list[str]) -> list[str]:
    return list(dict.fromkeys(reasons))


def _shown(path: str) -> str:
    """A path as ``why`` shows it: relative to the project (where doit runs) when inside."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def _reasons(task: Any, result: Any, makers: dict[str, str], moving: set[str],
             ran_here: bool) -> tuple[list[str], list[str]]:
    """Why doit would run the task, split: (surely, only if an input made by a task in
    ``moving`` stays as it is now). A task that never succeeded here says so once."""
    sure: list[str] = []
    unsure: list[str] = []
    if not ran_here:
        sure.append(NOT_RUN)
    for utd, _, _ in result.reasons.get("uptodate_false", []):
        if isinstance(utd, Check) and utd.last is not None:
            if ran_here:  # else "it has not run here yet" says it: no record, no image...
                (unsure if moving else sure).append(utd.last.reason)
        elif isinstance(utd, StepConfig):
            if utd.changed is not None or ran_here:  # else: it has not run here yet
                sure.append(utd.reason())
        else:
            sure.append(repr(utd))
    checked = " ".join(sure + unsure)
    if ran_here:
        for path in result.reasons.get("changed_file_dep", []):
            if path not in makers and f"{Path(path).name} changed" in checked:
                continue  # a check said it already ("requirements.txt changed")
            what = (f"the result of {makers[path]} changed" if path in makers
                    else f"{_shown(path)} changed")
            (unsure if makers.get(path) in moving else sure).append(what)
        for path in result.reasons.get("missing_file_dep", []):
            what = (f"the result of {makers[path]} is missing" if path in makers
                    else f"{_shown(path)} is missing")
            (unsure if makers.get(path) in moving else sure).append(what)
        for path in result.reasons.get("added_file_dep", []):
            sure.append(f"it reads {makers.get(path, _shown(path))} now")
        for path in result.reasons.get("removed_file_dep", []):
            sure.append(f"it no longer reads {makers.get(path, _shown(path))}")
    else:
        for path in result.reasons.get("missing_file_dep", []):
            if path not in makers:
                sure.append(f"{_shown(path)} is missing")
    for path in result.reasons.get("missing_target", []) if ran_here else []:
        sure.append(f"its result {_shown(path)} is missing")
    if result.reasons.get("has_no_dependencies"):
        sure.append("it has nothing to check: it runs whenever asked")
    if result.reasons.get("checker_changed"):
        sure.append("doit's file checker changed")
    if not sure and not unsure:
        sure.append("doit says so")
    return sure, unsure
