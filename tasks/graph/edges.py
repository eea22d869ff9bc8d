"""The edges between steps, in one place: which steps a step needs, and the cycle check.

Each kind says what its steps name in their exercise (``local_refs``), read (``reads``: images,
pulled references, files, folders) and make (``makes``: images, files, pushed references).
An edge joins a reader to the maker: a Dockerfile's FROM or COPY --from naming an image another
step makes, a ``pull`` of a reference another step pushes, a recipe dep that is another step's
target or record, a build context holding another step's output. A step that needs a
record-keeping step lists its record (or targets) as ``file_dep``; a step that needs an
ephemeral one (a service, a network) gets a ``task_dep``. ``after:`` is ordering only.

Two steps never make one thing: an image tag made by two steps (a pull of what a push put
there is not a maker), a reference pushed by two, a file written by two: each would overwrite
the other's result, and what reads it would get either. Such a pair is a spec error naming
both places, as is a file that a step reads and that neither exists nor is made by a step.
"""
from __future__ import annotations

import dataclasses
import difflib
import graphlib
from pathlib import Path
from typing import Any, Iterable

from ..errors import SpecError, Where, did_you_mean
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
        #: (what, the name, the step that made it first, the step that makes it again)
        self.clashes: list[tuple[str, str, Step, Step]] = []
        self.authors: dict[str, Step] = {}  # image tags made by content, not fetched
        for exercise in exercises:
            for step in exercise.steps.values():
                kind = kinds.of(step)
                made = kind.makes(step, exercise)
                fetched = {normalize_ref(r) for r in kind.reads(step).pulls}
                for ref in made.images:
                    self.images.setdefault(normalize_ref(ref), step)
                    if normalize_ref(ref) not in fetched:
                        self._claim(self.authors, "tag", ref, step)
                for ref in made.pushes:
                    self._claim(self.pushes, "pushed reference", ref, step)
                self.files += [(path, step) for path in made.files]
                for path in made.files:
                    if path in self.outputs and self.outputs[path] is not step:
                        self.clashes.append(("file", str(path), self.outputs[path], step))
                    self.outputs.setdefault(path, step)
                if state is not None:
                    for path in kind.outputs(step, records.path_in(state, step.task)):
                        self.outputs.setdefault(path, step)

    def _claim(self, table: dict[str, Step], what: str, ref: str, step: Step) -> None:
        first = table.setdefault(normalize_ref(ref), step)
        if first is not step:
            self.clashes.append((what, ref, first, step))

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


def check(exercises: list[Exercise], kinds: Any, state: Path | None = None,
          broken: Iterable[str] = ()) -> Producers:
    """Reject `after:` entries that name no step, two steps that make one thing, files read
    that nothing makes (with ``state``, which says where records are), and cycles anywhere
    in the project. ``broken``: the exercises set aside already, for the messages.

    Returns:
        Who makes what (to compile the tasks with, rather than working it out again).

    Raises:
        SpecError: with the file and line of the step that names no step, of the second of
            two that make one thing, of a missing file, or of a step in the cycle.
    """
    steps = {s.task: s for e in exercises for s in e.steps.values()}
    producers = Producers(exercises, kinds, state)
    graph: dict[str, list[str]] = {}
    for exercise in exercises:  # a push tags its image in the engine too
        for step in exercise.steps.values():
            for ref in map(normalize_ref, producers.kinds.of(step).makes(step, exercise).pushes):
                author = producers.authors.get(ref)
                if author is not None and author is not step and \
                        author not in needs(step, exercise, producers):
                    producers.clashes.append(("tag", ref, author, step))
    if producers.clashes:
        what, name, first, again = producers.clashes[0]
        verb = {"pushed reference": "pushed", "file": "written"}.get(what, "made")
        raise SpecError(where_of(again, name), f"the {what} {name} is also {verb} by "
                        f"{first.task} ({where_of(first, name)}): each would overwrite the "
                        "other's, and what reads it would get either.",
                        "Give one of them its own name.")
    for exercise in exercises:
        for step in exercise.steps.values():
            for ref in step.after:
                if ref not in steps:
                    raise SpecError(where_of(step, ref),
                                    *_after_problem(ref, step, steps, frozenset(broken)))
            if state is not None:
                _check_reads_exist(step, kinds, producers)
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


def where_of(step: Step, value: Any) -> Where:
    """Where a step's spec names ``value`` (a tag, a path; or an item of a list key), as far
    as its fields tell: the line of the key or list item that holds it, else the step's."""
    for field in dataclasses.fields(step):
        held = getattr(step, field.name)
        if isinstance(value, str) and isinstance(held, str) and \
                normalize_ref(held) == normalize_ref(value) or held == value:
            return step.at(field.name) if field.name in step.lines else step.where
        items = [str(h) for h in held] if isinstance(held, tuple) else []
        if str(value) in items:
            item = f"{field.name}[{items.index(str(value))}]"
            return step.at(item if item in step.lines else field.name)
    return step.where


def _check_reads_exist(step: Step, kinds: Any, producers: Producers) -> None:
    """A file a step reads (a recipe's deps) must exist, or be made by a step."""
    for path in kinds.of(step).reads(step).files:
        if path.is_dir() and path not in producers.outputs:
            raise SpecError(where_of(step, path), f"{path} is a folder; a dep is a file whose "
                            "content the step reads.", "List the files in it that the step "
                            "reads.")
        if path in producers.outputs or path.exists():
            continue
        where = where_of(step, path)
        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        close = did_you_mean(path.name, siblings) if siblings else ""
        raise SpecError(where, f"{path} does not exist, and no step makes it.",
                        (close + " " if close.startswith("Did") else "")
                        + "Create it, fix the path, or add it to the 'targets:' of the step "
                        "that makes it.")


def _after_problem(ref: str, step: Step, steps: dict[str, Step],
                   broken: frozenset[str]) -> tuple[str, str]:
    """What is wrong with an `after:` entry that names no step, and what would be right:
    suggestions come from the exercise it names, never from a third one."""
    exercise, _, name = ref.partition(":")
    exercises = sorted({t.partition(":")[0] for t in steps} | broken)
    own = exercise == step.exercise
    if own and name in exercises:
        examples = [t for t in steps if t.startswith(name + ":")][:3]
        return (f"'after' names '{name}', which is an exercise, not a step.",
                "'after' takes steps: 'name' for a step of this exercise, 'exercise:name' "
                "for a step of another" + (f" (e.g. {', '.join(examples)})." if examples
                                           else "."))
    if exercise in broken:
        return (f"'after' names '{ref}', but the exercise {exercise} is broken itself.",
                f"Fix it first (`script/doit why {exercise}` says what is wrong).")
    if exercise not in exercises:
        return (f"'after' names '{ref}', but there is no exercise '{exercise}'.",
                did_you_mean(exercise, exercises))
    inside = {t.partition(":")[2]: t for t in steps if t.startswith(exercise + ":")}
    close = difflib.get_close_matches(name, sorted(inside), n=1, cutoff=0.6)
    hint = (f"Did you mean '{inside[close[0]]}'?" if close else
            f"The steps of {exercise}: " + ", ".join(f"'{t}'" for t in inside.values()) + ".")
    return (f"'after' names '{ref}', but {'this exercise' if own else exercise} has no step "
            f"'{name}'.", hint)


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
