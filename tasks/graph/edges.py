"""The edges between steps, in one place: which steps a step needs, and the cycle check.

Each kind says what its steps name in their exercise (``local_refs``), read (``reads``: images,
pulled references, files, folders) and make (``makes``: images, files, pushed references).
An edge joins a reader to the maker: a Dockerfile's FROM or COPY --from naming an image another
step makes, a ``pull`` of a reference another step pushes, a recipe dep that is another step's
target or record, a build context holding another step's output. A step that needs a
record-keeping step lists its record (or targets) as ``file_dep``; a step that needs an
ephemeral one (a service, a network) gets a ``task_dep``. ``after:`` is ordering only.
"""
from __future__ import annotations

import graphlib
from pathlib import Path
from typing import Any

from ..errors import SpecError, did_you_mean
from ..dsl.model import Exercise, Step, normalize_ref
from ..kinds import records


class Producers:
    """Who makes what, across the whole project: images in the engine, tags in a registry,
    files on disk (targets, locks, wheelhouses, records)."""

    def __init__(self, exercises: list[Exercise], kinds: Any, state: Path | None = None) -> None:
        """Args:
            exercises: the whole project.
            kinds: the kinds table (``tasks.kinds.KINDS``).
            state: the state folder, to see recipe deps that name another step's record.
        """
        self.kinds = kinds
        self.images: dict[str, Step] = {}
        self.pushes: dict[str, Step] = {}
        self.files: list[tuple[Path, Step]] = []  # files and folders steps make
        self.outputs: dict[Path, Step] = {}
        for exercise in exercises:
            for step in exercise.steps.values():
                kind = kinds.of(step)
                made = kind.makes(step, exercise)
                for ref in made.images:
                    self.images.setdefault(normalize_ref(ref), step)
                for ref in made.pushes:
                    self.pushes.setdefault(normalize_ref(ref), step)
                self.files += [(path, step) for path in made.files]
                for path in made.files:
                    self.outputs.setdefault(path, step)
                if state is not None:
                    for path in kind.outputs(step, records.path_in(state, step.task)):
                        self.outputs.setdefault(path, step)

    def of_reads(self, step: Step) -> list[Step]:
        """The steps that make what ``step`` reads (images, pulled tags, files, folders)."""
        reads = self.kinds.of(step).reads(step)
        found: list[Step] = []
        found += [self.images[r] for r in map(normalize_ref, reads.images) if r in self.images]
        found += [self.pushes[r] for r in map(normalize_ref, reads.pulls) if r in self.pushes]
        found += [self.outputs[f] for f in reads.files if f in self.outputs]
        for folder in reads.folders:
            found += [maker for path, maker in self.files if path.is_relative_to(folder)]
        unique: list[Step] = []
        for maker in found:
            if maker is not step and maker not in unique:
                unique.append(maker)
        return unique


def needs(step: Step, exercise: Exercise, producers: Producers) -> list[Step]:
    """The steps whose results this step uses (not `after:`, which is ordering only)."""
    local = [exercise.steps[ref.step] for ref in producers.kinds.of(step).local_refs(step)]
    found: list[Step] = []
    for maker in local + producers.of_reads(step):
        if maker not in found:
            found.append(maker)
    return found


def check(exercises: list[Exercise], kinds: Any, state: Path | None = None) -> Producers:
    """Reject `after:` entries that name no step, and cycles anywhere in the project.

    Returns:
        Who makes what (to compile the tasks with, rather than working it out again).

    Raises:
        SpecError: with the file and line of the step that names no step, or of a step in
            the cycle.
    """
    steps = {s.task: s for e in exercises for s in e.steps.values()}
    producers = Producers(exercises, kinds, state)
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
    return producers


def upstream(exercises: list[Exercise], kinds: Any, state: Path | None = None
             ) -> dict[str, set[str]]:
    """For each task, every task it depends on, directly or through others (``after:`` too)."""
    producers = Producers(exercises, kinds, state)
    direct = {s.task: {n.task for n in needs(s, e, producers)} | set(s.after)
              for e in exercises for s in e.steps.values()}
    closed: dict[str, set[str]] = {}

    def close(task: str) -> set[str]:
        if task not in closed:
            closed[task] = set()  # the graph has no cycles (checked); this stops a bad one
            found = set(direct.get(task, ()))
            for other in list(found):
                found |= close(other)
            closed[task] = found
        return closed[task]

    for task in direct:
        close(task)
    return closed


def split(step: Step, exercise: Exercise, producers: Producers) -> tuple[list[Step], list[str]]:
    """(steps whose outputs are file_deps, task names that are task_deps) for one step."""
    kept, tasks = [], list(step.after)
    for needed in needs(step, exercise, producers):
        if producers.kinds.of(needed).ephemeral(needed):
            tasks.append(needed.task)
        else:
            kept.append(needed)
    return kept, tasks


__all__ = ["Producers", "check", "needs", "split", "upstream"]
