"""Every kind's task dict, for the docs' sample of each kind: the actions and checks it gives
doit, in order, what they are given, its file deps, targets, set-up and task deps.

The table is written by hand (paths relative to the sample project, R); a kind's ``task``
that drops an action, a check, a dependency or an argument fails here.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import EXAMPLE_CONFIG, EXAMPLE_FILES, NoEngine, kind_examples, load_config, \
    write_project
from tasks import project
from tasks.engine.client import Engine
from tasks.graph import compile as graph
from tasks.kinds import KINDS, recipes
from tasks.kinds.actions import Action, Always, Check
from tasks.kinds.runtime import Runtime

R = ".ac295/records"
SH = ["clear_targets", "snapshot", "run", "check_unchanged", "check_targets"]
# task: (kind, actions, checks, file deps, targets, setup, task deps)
TABLE = {
    "k-commit-0:modified": ("commit", ["run"], ["source image, commands and image"],
                            [f"{R}/k-commit-0/upstream.json"],
                            [f"{R}/k-commit-0/modified.json"], None, []),
    "k-grade-0:check": ("grade", ["table"], [],
                        [f"{R}/k-grade-0/check.ana.json", f"{R}/k-grade-0/check.bo.json",
                         # where each check ran: the notes beside the records
                         ".ac295/local/k-grade-0/check.ana.json",
                         ".ac295/local/k-grade-0/check.bo.json"],
                        [".ac295/k-grade-0/check/results.csv",
                         ".ac295/k-grade-0/check/results.md"], None, []),
    "k-grade-0:check.ana": ("grade-student", ["grade"], ["the registry's digest of the image"],
                            [], [f"{R}/k-grade-0/check.ana.json"], ["registry_start"], []),
    "k-import-0:rootfs-image": ("import", ["run"], ["recipe (or tarball) and image"],
                                ["exercises/k-import-0/make-rootfs.sh"],
                                [f"{R}/k-import-0/rootfs-image.json"], None, []),
    "k-kernel-0:linux": ("kernel", ["run"], ["the fetched kernel"], [],
                         [f"{R}/k-kernel-0/linux.json"], None, []),
    "k-measure-0:timings": ("measure", SH, ["a request for new measurements"],
                            ["exercises/k-measure-0/time-it.sh"], [".ac295/times.json"], None,
                            []),
    "k-network-0:net": ("network", ["create"], None, [], [], None, []),
    "k-pull-0:upstream": ("pull", ["run"], ["registry digest and image"], [],
                          [f"{R}/k-pull-0/upstream.json"], ["registry_start"], []),
    "k-push-0:built": ("build", ["run"], ["inputs digest and image"], [],
                       [f"{R}/k-push-0/built.json"], None, []),
    "k-push-0:publish": ("push", ["run"], ["registry digest under the tag"],
                         [f"{R}/k-push-0/built.json"], [f"{R}/k-push-0/publish.json"],
                         ["registry_start"], []),
    "k-run-0:question": ("run", ["run"], [], [f"{R}/k-run-0/image.json"],
                         [f"{R}/k-run-0/question.json"], None, []),
    "k-run-0:file": ("save", ["run"], ["the archive's image"], [f"{R}/k-run-0/image.json"],
                     [f"{R}/k-run-0/file.json", ".ac295/archives/k-run-0/file.tar"], None, []),
    "k-run-0:podman": ("run", ["run_rootless"], [], [f"{R}/k-run-0/file.json"],
                       [f"{R}/k-run-0/podman.json"], None, []),
    "k-service-0:server": ("service", ["start"], None, [f"{R}/k-service-0/server-image.json"],
                           [], None, ["k-service-0:db", "k-service-0:net"]),
    "k-service-0:probe": ("run", ["run"], None, [f"{R}/k-service-0/server-image.json"], [],
                          None, ["k-service-0:db", "k-service-0:net"]),
    "k-sh-0:data": ("sh", SH, [], ["exercises/k-sh-0/make-data.sh"], [".ac295/data.csv"],
                    None, []),
    "k-sh-0:check": ("sh", SH, None, [], [], None, ["k-sh-0:data"]),
    "k-venv-0:env": ("venv", ["run"], ["spec, interpreter, lock and environment"],
                     ["exercises/k-venv-0/environment.yml"],
                     [f"{R}/k-venv-0/env.json", ".ac295/env.lock"], None, []),
    "k-venv-0:copy": ("venv", ["run"], ["spec, interpreter, lock and environment"],
                      [f"{R}/k-venv-0/env.json"],
                      [f"{R}/k-venv-0/copy.json", ".ac295/venvs/copy.lock"], None, []),
    "k-vm-0:box": ("vm", ["run"], [], [f"{R}/k-vm-0/image.json", f"{R}/k-vm-0/linux.json"],
                   [f"{R}/k-vm-0/box.json", ".ac295/vm/k-vm-0/box.cpio"], None, []),
    "k-wheelhouse-0:wheels": ("wheelhouse", ["run"], ["source lock and wheels"],
                              [f"{R}/k-wheelhouse-0/env.json"],
                              [f"{R}/k-wheelhouse-0/wheels.json"], None, []),
    "k-wheelhouse-0:image": ("build", ["run"], ["inputs digest and image"],
                             [f"{R}/k-wheelhouse-0/wheels.json"],
                             [f"{R}/k-wheelhouse-0/image.json"], None, []),
}


SHAPES = {"venv": "cylinder", "wheelhouse": "tab", "build": "box3d", "import": "folder",
          "pull": "invhouse", "commit": "component", "run": "ellipse",
          "service": "doubleoctagon", "push": "house", "network": "hexagon", "sh": "note",
          "save": "folder", "kernel": "cds", "vm": "Msquare", "measure": "parallelogram",
          "grade": "tab", "grade-student": "oval"}


@pytest.fixture
def sample(tmp_path) -> tuple[dict[str, dict], Path, Runtime]:
    files: dict[str, str] = {}
    for kind, blocks in kind_examples().items():
        for n, block in enumerate(blocks):
            folder = f"exercises/k-{kind}-{n}"
            files.update({f"{folder}/{rel}": body for rel, body in EXAMPLE_FILES.items()})
            files[f"{folder}/exercise.yml"] = block
    root = write_project(tmp_path / "examples", files, EXAMPLE_CONFIG)
    cfg = load_config(root)
    exercises = project.load_exercises(cfg, KINDS)
    rt = Runtime(cfg, engine=Engine(factory=NoEngine()))
    tasks = {f"{t['basename']}:{t['name']}": t for t in graph.exercise_tasks(rt, KINDS, exercises)
             if t.get("name")}
    return tasks, root, rt


def relative(paths: list, root: Path) -> list[str]:
    return [str(Path(p).relative_to(root)) for p in paths]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_task_dict_of_each_kind(sample, name):
    tasks, root, rt = sample
    kind, actions, checks, file_dep, targets, setup, task_dep = TABLE[name]
    task = tasks[name]
    assert task["meta"]["ac295_kind"] == kind
    assert task["meta"]["ac295_shape"] == SHAPES[kind]
    assert [a[0].__name__ for a in task["actions"]] == actions
    assert all(isinstance(a[0], Action) for a in task["actions"])
    own = [u for u in task["uptodate"] if isinstance(u, (Check, Always))]
    if checks is None:  # ephemeral: one Always, with the kind's reason
        assert len(own) == 1 and isinstance(own[0], Always)
        assert own[0].why == KINDS[kind].ephemeral(_step(rt, tasks, name, sample))
    else:
        assert [c.what for c in own] == checks
    assert relative(task["file_dep"], root) == file_dep
    assert relative(task["targets"], root) == targets
    assert task.get("setup") == setup
    assert task["task_dep"] == task_dep


def _step(rt, tasks, name, sample):
    _, root, _ = sample
    cfg = load_config(root)
    exercises = {e.name: e for e in project.load_exercises(cfg, KINDS)}
    exercise, step = name.split(":")
    return exercises[exercise].steps[step]


@pytest.mark.parametrize("name", sorted(TABLE))
def test_each_action_and_check_is_given_the_runtime_and_its_step(sample, name):
    """What doit calls is bound to this run's runtime and this step, never to another."""
    tasks, root, rt = sample
    step = _step(rt, tasks, name, sample)
    bound = [args for function, args in tasks[name]["actions"]
             if function.function is not recipes.run] + \
        [u.args for u in tasks[name]["uptodate"] if isinstance(u, Check)]
    for function, args in tasks[name]["actions"]:
        if function.function is recipes.run:  # a command: in its folder, named, located
            exercise = name.split(":")[0]
            assert args[1:] == (root / "exercises" / exercise, name,
                                root / "exercises" / exercise / "exercise.yml", step.kind)
    for args in bound:
        steps = [a for a in args if getattr(a, "task", None) is not None and hasattr(a, "where")]
        runtimes = [a for a in args if isinstance(a, Runtime)]
        assert steps and steps[0].task == name, (name, args)
        if runtimes:
            assert runtimes[0] is rt
        assert None not in args[:2], (name, args)
