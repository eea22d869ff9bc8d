"""``sh:``: a Makefile-style recipe: shell commands, with file deps and targets.

It reruns when a dep's content, the commands, or a missing target says so. Like a Makefile
rule with no target, a recipe without ``targets`` is phony: it runs every time (checks
against running services). Recipes run in their exercise folder; ``{state}`` and ``{root}``
are shell-quoted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..digests import file_sha256
from ..errors import LockError, RecipeError, SpecError
from ..dsl.fields import Fields
from ..dsl.model import Exercise, Step
from . import recipes
from .actions import action
from .base import Key, Kind, Makes, Reads, Session, ShellRequest, TaskContext


@dataclass(frozen=True, kw_only=True)
class ShStep(Step):
    """A recipe: shell commands, with file deps and targets."""

    kind: ClassVar[str] = "sh"
    commands: tuple[str, ...]
    deps: tuple[Path, ...]
    targets: tuple[Path, ...]


def clear_targets(step: ShStep) -> None:
    """Delete a recipe's target files before it runs (Make's .DELETE_ON_ERROR).

    doit keeps its last success when a run is interrupted, so a half-written target left by
    Ctrl-C would be taken as done next time; a target that is not there forces the rerun.
    """
    for target in step.targets:
        if target.is_file() or target.is_symlink():
            target.unlink()


def snapshot(step: ShStep, box: dict[str, str]) -> None:
    """Hash a recipe's deps before it runs (see ``check_unchanged``)."""
    box.clear()
    box.update({str(d): file_sha256(d) for d in step.deps if d.is_file()})


def check_unchanged(step: ShStep, box: dict[str, str]) -> None:
    """Fail a recipe whose deps changed while it ran.

    doit records its file_deps' state after the task: a dep edited during the recipe would be
    recorded as built (a known doit limitation, pydoit issue #119). Failing here keeps the old
    state, so the next run reruns the recipe on the new content.
    """
    moved = [path for path, digest in box.items()
             if not Path(path).is_file() or file_sha256(Path(path)) != digest]
    if moved:
        raise RecipeError(f"{step.task}: {', '.join(moved)} changed while the recipe ran; "
                          "its result may be from the old content. Run again.")


def check_targets(step: ShStep) -> None:
    """Fail a recipe that exited 0 without making each declared target."""
    missing = [str(t) for t in step.targets if not t.exists()]
    if missing:
        raise RecipeError(f"{step.task}: the recipe succeeded but did not make "
                          f"{', '.join(missing)}. Fix the recipe or its 'targets:' in "
                          f"{step.where.file}.")


class Sh(Kind[ShStep]):
    name = "sh"
    shape = "note"
    keyword = Key("sh", "strings", "shell commands, run in the exercise folder", required=True)
    keys = (Key("deps", "strings", "input files: the recipe reruns when one changes"),
            Key("targets", "strings", "files it makes; none: a phony recipe, run every time"))
    summary = "a Makefile-style recipe: shell commands with deps and targets"
    lock_doc = "the sha256 of each target"

    def locks(self, step: ShStep) -> bool:
        return bool(step.targets)

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> ShStep:
        commands = f.quoted().texts("sh")
        if not commands:
            raise SpecError(f.where("sh"), "a recipe needs at least one command.")
        return ShStep(**common, commands=commands,
                      deps=tuple(f.path("deps", d, folder) for d in f.texts("deps")),
                      targets=tuple(f.path("targets", t, folder) for t in f.texts("targets")))

    def ephemeral(self, step: ShStep) -> str:
        return "" if step.targets else "a recipe without targets is phony, like Make's"

    def outputs(self, step: ShStep, record: Path) -> list[Path]:
        return list(step.targets)  # its targets stand for it: no record

    def lock_facts(self, step: ShStep, record: dict[str, Any] | None,
                   notes: dict[str, Any]) -> dict[str, Any] | None:
        """The sha256 of each target, by file name: what the recipe made."""
        if not step.targets:
            return None
        missing = [t.name for t in step.targets if not t.is_file()]
        if missing:
            raise LockError(f"{step.task} has not made {', '.join(missing)}; run it first.")
        return {t.name: "sha256:" + file_sha256(t) for t in step.targets}

    def makes(self, step: ShStep, exercise: Exercise) -> Makes:
        return Makes(files=step.targets)

    def reads(self, step: ShStep) -> Reads:
        return Reads(files=step.deps)

    def task(self, step: ShStep, ctx: TaskContext) -> dict[str, Any]:
        box: dict[str, str] = {}  # dep hashes taken before the recipe, checked after
        # Recipes run in their exercise folder, like a Makefile's.
        shell = [action(recipes.run, c, ctx.exercise.folder, step.task, step.where.file,
                        step.kind) for c in step.commands]
        return {"file_dep": [str(d) for d in step.deps],
                "actions": [action(clear_targets, step), action(snapshot, step, box), *shell,
                            action(check_unchanged, step, box), action(check_targets, step)]}

    def shell(self, step: ShStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return (f"{step.task} runs its commands on this machine, in {ctx.exercise.folder}, "
                "with no environment of its own: run them there yourself.")
