"""Single-input mutations: for each input file of each exercise, the tasks that rerun are
exactly the tasks whose inputs changed, directly or through an upstream result that changed.

A mutation appends a comment (or, in Markdown, a line without digits): it changes the file's
bytes but not what it means. Who reads which file comes from the specs (build contexts after
.dockerignore, recipe and `sh` deps, environment specs). A step's result changes when it
reruns if it is an image, a pushed or pulled reference or a container run (new image id), or
an environment made from the edited spec; recipes and environments made from an unchanged lock
produce the same bytes, so what depends only on them does not rerun. Services and checks that
run every time are left out. AC295_MUTATE_ALL=1 includes the base image's recipe (a
debootstrap); the test command leaves it out.
"""
from __future__ import annotations

import os
from pathlib import Path

from tasks import project as project_mod
from tasks.engine import images
from tasks.graph import edges, records
from tasks.kinds import REGISTRY
from tasks.spec import config as config_mod
from tasks.spec.model import Exercise
from tasks.spec.model import Step as AnyStep

from .conftest import clone

SKIP = {"exercise.yml", ".dockerignore", ".gitignore"}
CHANGES_WHEN_RERUN = ("build", "import", "commit", "pull", "push", "run")


def _inputs(exercise: Exercise) -> list[Path]:
    found = []
    for path in sorted(exercise.folder.rglob("*")):
        parts = path.relative_to(exercise.folder).parts
        if path.is_file() and path.name not in SKIP and "wheelhouse" not in parts \
                and "__pycache__" not in parts:
            found.append(path)
    return found


def _reads(step: AnyStep, path: Path) -> bool:
    if step.kind == "build":
        return path in {(step.context / p).resolve()  # type: ignore[attr-defined]
                        for p in images.context_files(step.context,  # type: ignore[attr-defined]
                                                      step.dockerfile)}  # type: ignore[attr-defined]
    if step.kind in ("sh", "import"):
        return path in step.deps  # type: ignore[attr-defined]
    if step.kind == "venv":
        return step.spec == path  # type: ignore[attr-defined]
    return False


def _needs(step, owner, producers, outputs) -> list[AnyStep]:
    """What a step uses: the spec's edges, plus other steps' outputs named in a recipe's deps."""
    found = list(edges.needs(step, owner[step.task], producers))
    if step.kind == "sh":
        found += [outputs[d] for d in step.deps if d in outputs]  # type: ignore[attr-defined]
    return found


def expected(cfg, exercises: list[Exercise], path: Path, run: str) -> set[str]:
    """The non-ephemeral tasks of `doit <run>` that must rerun when ``path`` changes
    meaninglessly."""
    producers = edges.Producers(exercises, REGISTRY)
    owner = {s.task: e for e in exercises for s in e.steps.values()}
    steps = {s.task: s for e in exercises for s in e.steps.values()}
    outputs: dict[Path, AnyStep] = {}
    for s in steps.values():
        targets = s.targets if s.kind == "sh" else (  # type: ignore[attr-defined]
            records.path_in(cfg.state, s.task),)
        outputs.update({t: s for t in targets})
    needs = {t: _needs(s, owner, producers, outputs) for t, s in steps.items()}
    in_run, todo = set(), [s.task for s in owner_steps(exercises, run)]
    while todo:  # the tasks `doit <run>` reaches: the exercise's and what they need
        task = todo.pop()
        if task not in in_run:
            in_run.add(task)
            todo += [n.task for n in needs[task]] + list(steps[task].after)
    import graphlib
    order = graphlib.TopologicalSorter({t: [n.task for n in needs[t]] for t in steps}
                                       ).static_order()
    reran: set[str] = set()
    changed: set[str] = set()
    for task in order:
        step = steps[task]
        direct = _reads(step, path)
        upstream = any(n.task in changed for n in needs[task])
        if not (direct or upstream):
            continue
        reran.add(task)
        if step.kind in CHANGES_WHEN_RERUN or (step.kind == "venv" and direct):
            changed.add(task)
    return {t for t in reran if not REGISTRY.of(steps[t]).ephemeral(steps[t]) and t in in_run}


def owner_steps(exercises: list[Exercise], name: str) -> list[AnyStep]:
    return [s for e in exercises if e.name == name for s in e.steps.values()]


def _mutate(path: Path) -> None:
    tail = "\nA line that changes nothing.\n" if path.suffix == ".md" else "\n# mutation\n"
    path.write_text(path.read_text() + tail)


def test_each_input_reruns_exactly_its_dependents(tmp_path, make_registry):
    project = clone(tmp_path, make_registry().host)
    project.doit()  # every exercise, once
    cfg = config_mod.load(project.root, environ=project.env)
    exercises = project_mod.load_exercises(cfg)
    everything = os.environ.get("AC295_MUTATE_ALL") == "1"
    exact, mismatches = 0, []
    for exercise in exercises:
        if exercise.name == "base" and not everything:
            continue
        for path in _inputs(exercise):
            want = expected(cfg, exercises, path.resolve(), exercise.name)
            _mutate(path)
            run = project.doit(exercise.name)
            steps = {s.task: s for e in exercises for s in e.steps.values()}
            got = {t for t in run.executed
                   if t in steps and not REGISTRY.of(steps[t]).ephemeral(steps[t])}
            if got == want:
                exact += 1
            else:
                mismatches.append(f"{path.relative_to(project.root)}: reran {sorted(got)}, "
                                  f"expected {sorted(want)}")
            if exercise.name in ("base", "upstream"):
                project.doit()  # others use what it makes: settle them before the next one
    total = exact + len(mismatches)
    print(f"FIGURE mutations: {exact} of {total} exact")
    assert not mismatches, "\n".join(mismatches)
    assert total >= 15  # the exercises' inputs were really visited
