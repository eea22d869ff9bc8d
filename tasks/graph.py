"""Compile exercise specs into doit task dicts. Pure: builds dicts, touches nothing.

Step S of exercise E becomes task ``E:S``; ``E`` is the group task that runs them all and
carries the exercise's doc for ``doit list``. Edges come from doit itself: a step that uses
another step's result lists that step's record as ``file_dep`` (doit runs the producer first,
and reruns the consumer when the record's bytes change); ``after:`` becomes ``task_dep``.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Iterator

from doit.action import CmdAction
from doit.tools import config_changed

from . import steps as ops
from .spec import (AnyStep, BuildStep, Exercise, ImportStep, PushStep, RunStep, ShStep,
                   base_producers, image_producers)

REGISTRY_START = "registry_start"
REGISTRY_STOP = "registry_stop"


def step_config(step: AnyStep, root: Path) -> dict[str, Any]:
    """The part of a step that should rerun it when edited, as a JSON-able dict.

    Leaves out the doc, the ordering and the line numbers (editing a comment reruns nothing);
    paths are relative to the project so that a clone elsewhere hashes the same.
    """
    data = dataclasses.asdict(step)
    for key in ("doc", "after", "where", "lines", "exercise", "name"):
        data.pop(key, None)

    def clean(value: Any) -> Any:
        if isinstance(value, Path):
            try:
                return str(value.relative_to(root))
            except ValueError:
                return str(value)
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in sorted(value.items())}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return clean(data)


def _checked(function: Any, *args: Any) -> Any:
    return ops.quiet_check(functools.partial(function, *args))


def _action(function: Any, *args: Any) -> tuple[Any, tuple[Any, ...]]:
    return (ops.reported(function), args)


def step_task(rt: ops.Runtime, exercise: Exercise, step: AnyStep,
              producers: dict[str, AnyStep]) -> dict[str, Any]:
    """One doit task dict for one step."""
    config = rt.config
    record = str(rt.record_path(step.task))
    task: dict[str, Any] = {
        "basename": exercise.name,
        "name": step.name,
        "doc": step.doc or f"{step.kind} step of {exercise.name}",
        "targets": [record],
        "file_dep": [],
        "task_dep": list(step.after),
        "uptodate": [config_changed(step_config(step, config.root))],
        "clean": True,
        "verbosity": 2,
    }
    if isinstance(step, BuildStep):
        task["file_dep"] += [str(rt.record_path(p.task))
                             for p in base_producers(step, producers)]
        task["actions"] = [_action(ops.build_action, rt, step)]
        task["uptodate"].append(_checked(ops.build_uptodate, rt, step))
    elif isinstance(step, ImportStep):
        task["file_dep"].append(str(step.tarball))
        task["actions"] = [_action(ops.import_action, rt, step)]
        task["uptodate"].append(_checked(ops.import_uptodate, rt, step))
    elif isinstance(step, RunStep):
        task["file_dep"].append(str(rt.record_path(f"{exercise.name}:{step.image}")))
        task["actions"] = [_action(ops.run_action, rt, step)]
    elif isinstance(step, PushStep):
        ref = ops.push_ref(rt, step, dict(exercise.steps))
        task["file_dep"].append(str(rt.record_path(f"{exercise.name}:{step.image}")))
        task["actions"] = [_action(ops.push_action, rt, step, ref)]
        task["uptodate"].append(_checked(ops.push_uptodate, rt, step, ref))
        if config.local_registry_port is not None:
            task["setup"] = [REGISTRY_START]
    elif isinstance(step, ShStep):
        task["file_dep"] += [str(d) for d in step.deps]
        task["targets"] = [str(t) for t in step.targets]
        task["actions"] = [_shell(c, exercise) for c in step.commands]
        task["actions"].append(_action(ops.sh_check_targets, step))
        task["clean"] = bool(step.targets)
    return task


def _shell(command: str, exercise: Exercise) -> CmdAction:
    # Recipes run in their exercise folder, like a Makefile's; `{state}` is already expanded.
    return CmdAction(command, cwd=str(exercise.folder), shell=True)


def exercise_tasks(rt: ops.Runtime, exercises: list[Exercise]) -> Iterator[dict[str, Any]]:
    """Every task of the project: a group task per exercise, its steps, the registry service."""
    producers = image_producers(exercises)
    for exercise in exercises:
        yield {"basename": exercise.name, "name": None, "doc": exercise.doc}
        for step in exercise.steps.values():
            yield step_task(rt, exercise, step, producers)
    yield {"basename": REGISTRY_START, "doc": "start the local registry (push steps do this "
           "when they must push)", "actions": [_action(ops.registry_start, rt)],
           "uptodate": [_checked(_local_registry_running, rt)], "verbosity": 2}
    yield {"basename": REGISTRY_STOP, "doc": "stop the local registry this project started",
           "actions": [_action(ops.registry_stop, rt)], "uptodate": [False], "verbosity": 2}


def _local_registry_running(rt: ops.Runtime) -> bool:
    local = rt.local_registry
    return local is None or local.running()
