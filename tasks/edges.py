"""The edges between steps, in one place: which steps a step needs, and the cycle check.

Edges come from: a step's image step (``run: image``, ``push:``, ``commit:``), a network step
(``network:``), a Dockerfile's FROM naming an image another step makes, a ``pull`` of a reference
another step pushes, and ``after:``. A step that needs a record-keeping step lists its record as
``file_dep``; a step that needs an ephemeral one (a service, a network) gets a ``task_dep``.
"""
from __future__ import annotations

import graphlib
from . import records
from .errors import SpecError, did_you_mean
from pathlib import Path

from .model import (AnyStep, BuildStep, CommitStep, Exercise, ImportStep, PullStep, PushStep,
                    RunStep, ShStep, VenvStep, WheelhouseStep, normalize_ref)


class Producers:
    """Who makes what, across the whole project: images in the engine, tags in a registry."""

    def __init__(self, exercises: list[Exercise], state: Path | None = None) -> None:
        """Args:
            exercises: the whole project.
            state: the state folder, to see recipe deps that name another step's record.
        """
        steps = [s for e in exercises for s in e.steps.values()]
        self.images: dict[str, AnyStep] = {}
        for s in steps:
            if isinstance(s, (BuildStep, ImportStep, CommitStep, PullStep)):
                self.images.setdefault(normalize_ref(s.image_ref), s)
        self.files: list[tuple[Path, AnyStep]] = []  # files and folders steps make
        for s in steps:
            if isinstance(s, ShStep):
                self.files += [(t, s) for t in s.targets]
            elif isinstance(s, WheelhouseStep):
                self.files.append((s.folder, s))
            elif isinstance(s, VenvStep):
                self.files.append((s.lock, s))
        self.outputs: dict[Path, AnyStep] = {path: maker for path, maker in self.files}
        if state is not None:
            for s in steps:
                if not s.ephemeral and not isinstance(s, ShStep):
                    self.outputs[records.path_in(state, s.task)] = s
        self.pushes: dict[str, PushStep] = {}
        by_task = {s.task: s for s in steps}
        for s in steps:
            if isinstance(s, PushStep):
                source = by_task[f"{s.exercise}:{s.image}"]
                ref = s.tag or getattr(source, "image_ref")
                self.pushes.setdefault(normalize_ref(ref), s)

    def of_bases(self, step: AnyStep) -> list[AnyStep]:
        """The steps that make a build step's FROM images."""
        if not isinstance(step, BuildStep):
            return []
        found = (self.images.get(normalize_ref(b)) for b in step.bases)
        return [p for p in found if p is not None and p is not step]

    def of_context(self, step: AnyStep) -> list[AnyStep]:
        """The steps that make files inside a build step's context (a wheelhouse, say)."""
        if not isinstance(step, BuildStep):
            return []
        found: list[AnyStep] = []
        for path, maker in self.files:
            if maker is not step and maker not in found and path.is_relative_to(step.context):
                found.append(maker)
        return found

    def of_deps(self, step: AnyStep) -> list[AnyStep]:
        """The steps whose outputs (targets, records) a recipe names in its ``deps``."""
        if not isinstance(step, (ShStep, ImportStep)):
            return []
        found = [self.outputs[d] for d in step.deps if d in self.outputs]
        return [f for n, f in enumerate(found) if f is not step and f not in found[:n]]

    def of_pull(self, step: AnyStep) -> list[AnyStep]:
        """The push step that puts a pulled reference into the registry, if the project has one."""
        if not isinstance(step, PullStep):
            return []
        pusher = self.pushes.get(normalize_ref(step.ref))
        return [pusher] if pusher is not None else []


def needs(step: AnyStep, exercise: Exercise, producers: Producers) -> list[AnyStep]:
    """The steps whose results this step uses (not `after:`, which is ordering only)."""
    local = exercise.steps
    found: list[AnyStep] = []
    if isinstance(step, (RunStep, PushStep, CommitStep)):
        found.append(local[step.image])
    if isinstance(step, RunStep) and step.network:
        found.append(local[step.network])
    if isinstance(step, (VenvStep, WheelhouseStep)) and step.from_lock:
        found.append(local[step.from_lock])
    return (found + producers.of_bases(step) + producers.of_pull(step)
            + producers.of_context(step) + producers.of_deps(step))


def check(exercises: list[Exercise], state: Path | None = None) -> None:
    """Reject `after:` entries that name no step, and cycles anywhere in the project."""
    steps = {s.task: s for e in exercises for s in e.steps.values()}
    producers = Producers(exercises, state)
    graph: dict[str, list[str]] = {}
    for exercise in exercises:
        for step in exercise.steps.values():
            for ref in step.after:
                if ref not in steps:
                    raise SpecError(step.at("after"), f"'after' names '{ref}', which is no step.",
                                    did_you_mean(ref, steps))
            graph[step.task] = list(step.after) + [s.task for s in
                                                   needs(step, exercise, producers)]
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        cycle = err.args[1]
        first = steps[cycle[0]]
        raise SpecError(first.where, "the steps depend on each other in a cycle: "
                        + " -> ".join(cycle) + ".",
                        "Remove one of these references or 'after' entries.") from None


def split(step: AnyStep, exercise: Exercise, producers: Producers,
          ) -> tuple[list[AnyStep], list[str]]:
    """(steps whose records are file_deps, task names that are task_deps) for one step."""
    records, tasks = [], list(step.after)
    for needed in needs(step, exercise, producers):
        if needed.ephemeral:
            tasks.append(needed.task)
        else:
            records.append(needed)
    return records, tasks


__all__ = ["Producers", "check", "needs", "split"]
