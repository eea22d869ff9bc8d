"""``wheelhouse:``: the wheels of a venv step's lock, downloaded for offline installs in images.

It is refilled when the lock changes or a wheel in it changed or went missing. The folder is
made, so it lives under the state folder, never in the exercise's (the source tree); a build
takes it into its context with ``include:`` and depends on this step.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..digests import text_sha256
from ..errors import SpecError
from . import records
from ..dsl.fields import Fields
from ..dsl.model import Exercise, LocalRef, Step
from ..venvs import wheelhouse
from .actions import Check, Verdict, action, fresh, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Session, ShellRequest, TaskContext
from .shells import instead
from .runtime import Runtime
from .venv import VenvStep


@dataclass(frozen=True, kw_only=True)
class WheelhouseStep(Step):
    """A folder of wheels downloaded for a venv step's lock."""

    kind: ClassVar[str] = "wheelhouse"
    folder: Path
    from_lock: str  # name of a venv step of this exercise


def uptodate(rt: Runtime, step: WheelhouseStep, source: VenvStep) -> Verdict:
    """Up to date iff made from the same lock and every wheel is still there, unchanged."""
    record = records.read(rt.record_path(step.task))
    if record is None:
        return stale("it has no record (never ran, or its last run failed)")
    if not step.folder.is_dir():
        return stale(f"{step.folder} is gone")
    if not source.lock.is_file():
        return stale(f"the lock {source.lock} is gone")
    if record.get("lock") != text_sha256(source.lock.read_text(encoding="utf-8")):
        return stale(f"{source.task}'s lock changed")
    if record.get("files") != wheelhouse.contents(step.folder):
        return stale(f"a wheel in {step.folder} changed or went missing")
    return fresh(f"{source.task}'s lock and every wheel as recorded")


def run(rt: Runtime, step: WheelhouseStep, source: VenvStep) -> None:
    """Download the wheels of the source environment's lock (with the pip to install them)."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        files = wheelhouse.fill_wheelhouse(step.folder, source.lock, source.path, progress)
        progress(f"{len(files)} file(s) in {step.folder}")
        recording.data = {"files": files,
                          "lock": text_sha256(source.lock.read_text(encoding="utf-8"))}


class Wheelhouse(Kind[WheelhouseStep]):
    name = "wheelhouse"
    shape = "tab"
    keyword = Key("wheelhouse", "string", "the folder to fill, under {state} (a build takes it "
                  "in with include:)", required=True)
    keys = (Key("from_lock", "string", "the venv step whose lock is downloaded",
                required=True),)
    summary = "download a venv step's locked wheels for offline installs (pip download)"
    lock_fields = ("lock",)
    lock_doc = "`lock`: the sha256 of the lock whose wheels it holds"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> WheelhouseStep:
        path = f.path("wheelhouse", f.required("wheelhouse"), folder)
        if path.is_relative_to(folder.resolve()):
            raise SpecError(f.where("wheelhouse"), f"{path} is in the exercise's folder: "
                            "downloaded wheels would land in the source tree.",
                            "Fill a folder under {state} (wheelhouse: \"{state}/<exercise>/"
                            "wheelhouse\") and give it to the build with include:.")
        return WheelhouseStep(**common, folder=path, from_lock=f.required("from_lock"))

    def local_refs(self, step: WheelhouseStep) -> list[LocalRef]:
        return [LocalRef("from_lock", step.from_lock, "lock")]

    def makes(self, step: WheelhouseStep, exercise: Exercise) -> Makes:
        return Makes(files=(step.folder,))

    def task(self, step: WheelhouseStep, ctx: TaskContext) -> dict[str, Any]:
        source = ctx.step(step.from_lock)
        assert isinstance(source, VenvStep)
        return {"actions": [action(run, ctx.rt, step, source)],
                "uptodate": [Check("source lock and wheels", uptodate, ctx.rt, step, source)]}

    def shell(self, step: WheelhouseStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return instead(step.task, f"is a folder of wheels ({step.folder})",
                       [f"{step.exercise}:{step.from_lock}"], "the environment they install")
