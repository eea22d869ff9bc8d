"""``measure:``: a recipe whose targets are measurements (timings), not results.

It runs as a ``sh:`` recipe does (in the exercise folder, with deps and targets), and is up
to date on the same terms, with two differences that follow from what a timing is:

- it can be asked to run again though nothing changed: ``doit EXERCISE rerun=1`` (the
  ``rerun`` variable), without rerunning what it reads, as ``-a`` would;
- ``ac295.lock`` keeps nothing of it: another machine, or another minute, times otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..errors import SpecError
from ..dsl.fields import Fields
from .actions import Check, Verdict, fresh, stale
from .base import Key, Kind, Makes, Reads, Session, ShellRequest, TaskContext
from .runtime import Runtime
from .sh import Sh, ShStep

YES = ("1", "yes", "true", "on")


@dataclass(frozen=True, kw_only=True)
class MeasureStep(ShStep):
    """A recipe whose targets are measurements."""

    kind: ClassVar[str] = "measure"


def not_asked(rt: Runtime, step: MeasureStep) -> Verdict:
    """Stale when the ``rerun`` variable asks for new measurements."""
    if rt.config.variables.get("rerun", "").lower() in YES:
        return stale("new measurements were asked for (rerun=1)")
    return fresh("no new measurements asked for (rerun=1 asks)")


class Measure(Kind[MeasureStep]):
    name = "measure"
    shape = "parallelogram"
    keyword = Key("measure", "strings", "shell commands that measure, run in the exercise "
                  "folder", required=True)
    keys = (Key("deps", "strings", "input files: it measures again when one changes"),
            Key("targets", "strings", "the files the measurements go to", required=True))
    summary = "a recipe that measures: reruns on request (rerun=1); not in the lock"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> MeasureStep:
        commands = f.quoted().texts("measure")
        if not commands:
            raise SpecError(f.where("measure"), "a measurement needs at least one command.")
        if not f.texts("targets"):
            raise SpecError(f.where("measure"), "a measurement needs 'targets': the files its "
                            "results go to.", "List them under 'targets:'.")
        return MeasureStep(**common, commands=commands,
                           deps=tuple(f.path("deps", d, folder) for d in f.texts("deps")),
                           targets=tuple(f.path("targets", t, folder) for t in f.texts("targets")))

    def makes(self, step: MeasureStep, exercise: Any) -> Makes:
        return Makes(files=step.targets)

    def reads(self, step: MeasureStep) -> Reads:
        return Reads(files=step.deps)

    def outputs(self, step: MeasureStep, record: Path) -> list[Path]:
        return list(step.targets)

    def task(self, step: MeasureStep, ctx: TaskContext) -> dict[str, Any]:
        fields = Sh().task(step, ctx)
        fields["uptodate"] = [Check("a request for new measurements", not_asked, ctx.rt, step)]
        return fields

    def shell(self, step: MeasureStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return (f"{step.task} runs its commands on this machine, in {ctx.exercise.folder}, "
                "with no environment of its own: run them there yourself.")
