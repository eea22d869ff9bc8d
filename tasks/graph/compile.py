"""Compile exercise specs into doit task dicts. Pure: builds dicts, touches nothing.

Step S of exercise E becomes task ``E:S``; ``E`` is the group task that runs them all and
carries the exercise's doc for ``doit list``. Edges come from doit itself (see
``tasks.graph.edges``): a step that uses another step's result lists that step's record as
``file_dep`` (doit runs the producer first, and reruns the consumer when the record's bytes
change); ephemeral steps (services, networks, phony recipes) are ``task_dep`` and always run.
What only a kind knows (actions, checks, clean-up) comes from the kind (``tasks.kinds``).
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Iterator

from ..kinds.actions import Always
from ..kinds.base import KindTable, ShellHook, TaskContext, merge
from ..kinds.runtime import Runtime
from ..names import REGISTRY_START
from ..dsl.model import Exercise, Step
from .edges import Producers, split
from .explain import StepConfig


def step_config(step: Step, root: Path, registry: str = "") -> dict[str, Any]:
    """The part of a step that should rerun it when edited, as a JSON-able dict.

    Leaves out the doc, the ordering and the line numbers (editing a comment reruns nothing).
    Places are left out too: paths are relative to the project, so that a clone elsewhere
    hashes the same, and the registry's host is written ``{registry}``: moving the registry
    renames images but changes no step (its pushes and pulls notice, by asking it).
    """
    skip = ("doc", "after", "where", "lines", "exercise", "name")
    top = str(root)
    data = {"kind": step.kind, **{f.name: getattr(step, f.name)
                                  for f in dataclasses.fields(step) if f.name not in skip}}

    def clean(value: Any) -> Any:
        if isinstance(value, str) and registry:
            return value.replace(registry + "/", "{registry}/")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return clean({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
        if isinstance(value, Path):  # relative to the root, as Path.relative_to, but cheaper
            text = str(value)
            if text == top:
                return "."
            return text[len(top) + 1:] if text.startswith(top + "/") else text
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in sorted(value.items())}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return clean(data)


def step_task(rt: Runtime, kinds: KindTable, exercise: Exercise, step: Step,
              producers: Producers, image_records: dict[str, Path] | None = None
              ) -> dict[str, Any]:
    """One doit task dict for one step: the graph's fields, then the kind's."""
    kind = kinds.of(step)
    needed, task_dep = split(step, exercise, producers)
    record = rt.record_path(step.task)
    task: dict[str, Any] = {
        "basename": exercise.name,
        "name": step.name,
        "doc": step.doc or f"{step.kind} step of {exercise.name}",
        "file_dep": [str(path) for s in needed
                     for path in kinds.of(s).outputs(s, rt.record_path(s.task))],
        "task_dep": task_dep,
        "targets": [str(path) for path in kind.outputs(step, record)],
        "verbosity": 2,
        "meta": {"ac295_kind": step.kind, "ac295_shape": kind.shape,  # for the picture
                 # for `doit shell` (no image records: it needs none, and -n pickles meta)
                 "ac295_shell": ShellHook(kind, step, TaskContext(rt=rt, exercise=exercise))},
    }
    if rt.config.local_registry_port is not None and (
            kind.uses_registry(step, exercise) or (
                rt.config.builder != "docker" and kind.makes(step, exercise).images)):
        # the registry this project runs, started first; a reproducible builder hands every
        # image it makes to the engine through it
        task["setup"] = [REGISTRY_START]
    why = kind.ephemeral(step)
    if why:
        task["uptodate"] = [Always(why)]
    else:
        task["uptodate"] = [StepConfig(functools.partial(step_config, step, rt.config.root,
                                                         rt.config.registry))]
        task["clean"] = True
    if image_records is None:
        image_records = made_images(rt, producers)
    context = TaskContext(rt=rt, exercise=exercise, image_records=image_records)
    return merge(task, kind.task(step, context))


def made_images(rt: Runtime, producers: Producers) -> dict[str, Path]:
    """The record of the step that makes each image, by normalized reference."""
    return {ref: rt.record_path(maker.task) for ref, maker in producers.images.items()}


def exercise_tasks(rt: Runtime, kinds: KindTable, exercises: list[Exercise],
                   producers: Producers | None = None) -> Iterator[dict[str, Any]]:
    """A group task per exercise (its doc for ``doit list``) and a task per step.

    ``producers``: who makes what in ``exercises``, if already worked out (``edges.check``).
    """
    producers = producers or Producers(exercises, kinds, rt.config.state)
    image_records = made_images(rt, producers)
    for exercise in exercises:
        yield {"basename": exercise.name, "name": None, "doc": exercise.doc}
        for step in exercise.steps.values():
            yield step_task(rt, kinds, exercise, step, producers, image_records)
