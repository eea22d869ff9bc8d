"""Compile exercise specs into doit task dicts. Pure: builds dicts, touches nothing.

Step S of exercise E becomes task ``E:S``; ``E`` is the group task that runs them all and
carries the exercise's doc for ``doit list``. Edges come from doit itself (see
``tasks.edges``): a step that uses another step's result lists that step's record as
``file_dep`` (doit runs the producer first, and reruns the consumer when the record's bytes
change); ephemeral steps (services, networks, phony recipes) are ``task_dep`` and always run.
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any, Iterator

from doit.action import CmdAction
from doit.tools import config_changed

from . import pipelock
from . import steps as ops
from .edges import Producers, split
from .model import (AnyStep, BuildStep, CommitStep, Exercise, ImportStep, NetworkStep,
                    PullStep, PushStep, RunStep, ShStep, VenvStep, WheelhouseStep)

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
              producers: Producers) -> dict[str, Any]:
    """One doit task dict for one step."""
    needed, task_dep = split(step, exercise, producers)
    task: dict[str, Any] = {
        "basename": exercise.name,
        "name": step.name,
        "doc": step.doc or f"{step.kind} step of {exercise.name}",
        "file_dep": [path for s in needed for path in outputs(rt, s)],
        "task_dep": task_dep,
        "verbosity": 2,
    }
    if step.ephemeral:
        task["uptodate"] = [False]  # services, networks, phony recipes: every time
    else:
        task["targets"] = [str(rt.record_path(step.task))]
        task["uptodate"] = [config_changed(step_config(step, rt.config.root))]
        task["clean"] = True
    uses_registry = rt.config.local_registry_port is not None
    if isinstance(step, VenvStep):
        if step.spec is not None:
            task["file_dep"].append(str(step.spec))
        task["targets"].append(str(step.lock))
        task["actions"] = [_action(ops.venv_action, rt, step, _source(exercise, step))]
        task["uptodate"].append(_checked(ops.venv_uptodate, rt, step, _source(exercise, step)))
    elif isinstance(step, WheelhouseStep):
        source = exercise.steps[step.from_lock]
        task["actions"] = [_action(ops.wheelhouse_action, rt, step, source)]
        task["uptodate"].append(_checked(ops.wheelhouse_uptodate, rt, step, source))
    elif isinstance(step, BuildStep):
        task["actions"] = [_action(ops.build_action, rt, step)]
        task["uptodate"].append(_checked(ops.build_uptodate, rt, step))
    elif isinstance(step, ImportStep):
        task["file_dep"] += [str(d) for d in step.deps] if step.recipe else [str(step.tarball)]
        task["actions"] = [_action(ops.import_action, rt, step)]
        task["uptodate"].append(_checked(ops.import_uptodate, rt, step))
    elif isinstance(step, PullStep):
        task["actions"] = [_action(ops.pull_action, rt, step)]
        task["uptodate"].append(_checked(ops.pull_uptodate, rt, step))
        if uses_registry:
            task["setup"] = [REGISTRY_START]
    elif isinstance(step, CommitStep):
        task["actions"] = [_action(ops.commit_action, rt, step)]
        task["uptodate"].append(_checked(ops.commit_uptodate, rt, step))
    elif isinstance(step, RunStep):
        network = exercise.steps[step.network] if step.network else None
        name = network.network if isinstance(network, NetworkStep) else None
        if step.detach:
            task["actions"] = [_action(ops.service_action, rt, step, name)]
            task["teardown"] = [_action(ops.service_teardown, rt, step)]
        else:
            task["actions"] = [_action(ops.run_action, rt, step, name)]
    elif isinstance(step, PushStep):
        ref = ops.push_ref(step, exercise.steps[step.image])  # type: ignore[arg-type]
        task["actions"] = [_action(ops.push_action, rt, step, ref)]
        task["uptodate"].append(_checked(ops.push_uptodate, rt, step, ref))
        if uses_registry:
            task["setup"] = [REGISTRY_START]
    elif isinstance(step, NetworkStep):
        task["actions"] = [_action(ops.network_action, rt, step)]
        task["teardown"] = [_action(ops.network_teardown, rt, step)]
    elif isinstance(step, ShStep):
        task["file_dep"] += [str(d) for d in step.deps]
        if step.targets:
            task["targets"] = [str(t) for t in step.targets]
        box: dict[str, str] = {}  # dep hashes taken before the recipe, checked after
        task["actions"] = [_action(ops.sh_clear_targets, step),
                           _action(ops.sh_snapshot, step, box)]
        task["actions"] += [_shell(c, exercise) for c in step.commands]
        task["actions"] += [_action(ops.sh_check_unchanged, step, box),
                            _action(ops.sh_check_targets, step)]
    return task


def outputs(rt: ops.Runtime, step: AnyStep) -> list[str]:
    """The files that stand for a step's result: its targets for a recipe, else its record."""
    if isinstance(step, ShStep):
        return [str(t) for t in step.targets]
    return [str(rt.record_path(step.task))]


def _source(exercise: Exercise, step: VenvStep) -> VenvStep | None:
    source = exercise.steps.get(step.from_lock) if step.from_lock else None
    return source if isinstance(source, VenvStep) else None


def _shell(command: str, exercise: Exercise) -> CmdAction:
    # Recipes run in their exercise folder, like a Makefile's; `{state}` is already expanded.
    return CmdAction(command, cwd=str(exercise.folder), shell=True)


def exercise_tasks(rt: ops.Runtime, exercises: list[Exercise]) -> Iterator[dict[str, Any]]:
    """Every task of the project: a group task per exercise, its steps, the registry service."""
    producers = Producers(exercises, rt.config.state)
    for exercise in exercises:
        yield {"basename": exercise.name, "name": None, "doc": exercise.doc}
        for step in exercise.steps.values():
            yield step_task(rt, exercise, step, producers)
    locked = pipelock.locked_steps(exercises)
    lock_file = str(rt.config.root / pipelock.LOCK_FILE)
    records_of = [str(rt.record_path(s.task)) for s in locked]
    yield {"basename": "lock", "doc": f"write {pipelock.LOCK_FILE}: every exercise's results "
           "(env locks, image inputs and ids, pushed digests), to commit",
           "actions": [_action(ops.lock_action, rt, locked)], "file_dep": records_of,
           "targets": [lock_file], "verbosity": 2}
    yield {"basename": "verify", "doc": f"check this machine's results against "
           f"{pipelock.LOCK_FILE}, one line per difference",
           "actions": [_action(ops.verify_action, rt, locked)], "file_dep": records_of,
           "uptodate": [False], "verbosity": 2}
    yield {"basename": REGISTRY_START, "doc": "start the local registry (push and pull steps "
           "do this when they must run)", "actions": [_action(ops.registry_start, rt)],
           "uptodate": [_checked(_local_registry_running, rt)], "verbosity": 2}
    yield {"basename": REGISTRY_STOP, "doc": "stop the local registry this project started",
           "actions": [_action(ops.registry_stop, rt)], "uptodate": [False], "verbosity": 2}


def _local_registry_running(rt: ops.Runtime) -> bool:
    local = rt.local_registry
    return local is None or local.running()  # a foreign one: the action says so
