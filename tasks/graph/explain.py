"""Why each task would run, or that it is up to date: a truthful status, with reasons.

doit's own ``list --status`` asks each task alone; a step downstream of one that will run
says "up to date" and then runs. Here statuses are worked out in the graph's order:

- ``run``: the task's own checks say so; the reasons come from them, in the project's words
  (a file changed, the image is missing, the registry serves another digest, a key of the
  step changed), or name the upstream result that changed (a record that is its file_dep);
- ``may``: its own checks pass, but a task it reads will run first: it runs again only if
  that task makes a different result (records hold results by content, so a rebuild that
  makes the same image stops there);
- ``always``: ephemeral by design (services, networks, phony recipes);
- ``fresh``: up to date, with what was checked.

A task that failed last time says so (the reporter notes failures, ``failed_path``).
"""
from __future__ import annotations

import json
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
            return "it never ran here (doit has no state for it)"
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
        text = f"{words}: {'; '.join(self.reasons)}" if self.reasons else words
        if self.failed:
            text += f" (it failed last time: {failure_words(self.failed)})"
        return text


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
    """The status of the named tasks and of everything they need (see the module's doc)."""
    makers = {target: t.name for t in tasks.values() for target in t.targets}
    found: dict[str, Status] = {}
    for name in closure(tasks, names):
        task = tasks[name]
        status = Status(name, failed=(failures or {}).get(name, ""))
        found[name] = status
        if not task.actions:  # a group task: it runs what it names
            status.state = "fresh"
            continue
        result = dep_manager.get_status(task, tasks, get_log=True)
        always = [u for u, _, _ in task.uptodate if isinstance(u, Always)]
        if always:
            status.state, status.reasons = "always", [always[0].why]
            continue
        if result.status != "up-to-date":
            status.state = "run"
            status.reasons = _reasons(task, result, makers)
            continue
        upstream = sorted({makers[f] for f in task.file_dep if f in makers}
                          | set(task.setup_tasks))
        moving = [u for u in upstream if found.get(u) and found[u].state in ("run", "may")]
        if moving:
            status.state = "may"
            status.reasons = [f"only if {', '.join(moving)} makes a different result"]
        else:
            checked = [u.last.reason for u, _, _ in task.uptodate
                       if isinstance(u, Check) and u.last is not None]
            status.reasons = checked or ["its inputs are as recorded"]
    return found


def _reasons(task: Any, result: Any, makers: dict[str, str]) -> list[str]:
    reasons: list[str] = []
    for utd, _, _ in result.reasons.get("uptodate_false", []):
        if isinstance(utd, Check) and utd.last is not None:
            reasons.append(utd.last.reason)
        elif isinstance(utd, StepConfig):
            reasons.append(utd.reason())
        else:
            reasons.append(repr(utd))
    for path in result.reasons.get("changed_file_dep", []):
        reasons.append(f"the result of {makers[path]} changed" if path in makers
                       else f"{Path(path).name} changed")
    for path in result.reasons.get("missing_target", []):
        reasons.append(f"its result {Path(path).name} is missing")
    for path in result.reasons.get("missing_file_dep", []):
        reasons.append(f"{makers.get(path, Path(path).name)} has not run yet")
    if result.reasons.get("has_no_dependencies"):
        reasons.append("it has nothing to check: it runs whenever asked")
    if result.reasons.get("checker_changed"):
        reasons.append("doit's file checker changed")
    return reasons or ["doit says so"]
