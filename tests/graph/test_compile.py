"""Compiling specs into doit task dicts: pure, so asserted on dicts; the engine must go unused."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from doit.loader import generate_tasks
from doit.tools import config_changed

from helpers import DATA, compile_project, example_steps, unwrap, write_project
from tasks.errors import Where
from tasks.graph import compile as graph
from tasks.kinds import KINDS, recipes, sh
from tasks.names import REGISTRY_START
from tasks.dsl.model import Step

VALID = (DATA / "valid").resolve()
STATE = VALID / ".state"


def record(task: str) -> str:
    exercise, step = task.split(":")
    return str(STATE / "records" / exercise / f"{step}.json")


@pytest.fixture  # per test: a mutant of the compiler must reach every test that reads it
def compiled() -> dict[str, dict[str, Any]]:
    tasks, _, _ = compile_project(VALID)
    return tasks


def test_task_names(compiled):
    assert set(compiled) == {"app", "app:image", "app:question", "app:push",
                             "base", "base:rootfs", "base:image", "base:push",
                             "registry_start", "registry_stop", "lock", "verify", "prune"}


def test_group_task_carries_the_doc(compiled):
    assert compiled["app"] == {"basename": "app", "name": None, "doc": "App for maggie"}
    assert compiled["base"]["doc"] == "Base image for maggie"
    assert compiled["app:image"]["doc"] == "build the app"
    assert compiled["app:question"]["doc"] == "run step of app"  # no doc: a default


def test_doit_accepts_the_dicts(compiled):
    tasks = {t.name: t for t in generate_tasks("ac295", (dict(t) for t in compiled.values()))}
    assert tasks["app"].task_dep == ["app:image", "app:question", "app:push"]
    assert tasks["app:push"].subtask_of == "app"
    assert tasks["app:push"].setup_tasks == ["registry_start"]


def test_run_and_push_depend_on_the_image_record(compiled):
    for name in ("app:question", "app:push"):
        assert compiled[name]["file_dep"] == [record("app:image")]
        assert compiled[name]["targets"] == [record(name)]
    assert compiled["base:push"]["file_dep"] == [record("base:image")]


def test_build_depends_on_the_record_of_its_base_producer_in_another_exercise(compiled):
    assert compiled["app:image"]["file_dep"] == [record("base:image")]
    assert compiled["app:image"]["targets"] == [record("app:image")]


def test_import_depends_on_the_tarball_the_sh_step_makes(compiled):
    tarball = str(STATE / "rootfs.tar")
    assert compiled["base:image"]["file_dep"] == [tarball]
    assert compiled["base:rootfs"]["targets"] == [tarball]


def test_sh_task(compiled):
    task = compiled["base:rootfs"]
    assert task["file_dep"] == [str(VALID / "exercises" / "base" / "rootfs.sh")]
    assert task["clean"] is True
    clear, snapshot, shell, unchanged, check = task["actions"]
    assert unwrap(clear)[0] is sh.clear_targets  # stale targets go first
    assert unwrap(snapshot)[0] is sh.snapshot  # deps hashed before the recipe ...
    assert unwrap(unchanged)[0] is sh.check_unchanged  # ... and checked after it
    assert snapshot[1][1] is unchanged[1][1]  # the same box of hashes
    function, (command, cwd, *_) = unwrap(shell)
    assert function is recipes.run  # the one recipe runner, as for an import's recipe
    assert command == f"./rootfs.sh {STATE}/rootfs.tar"
    assert cwd == VALID / "exercises" / "base"
    assert unwrap(check)[0] is sh.check_targets  # the targets check runs after the recipe


def test_after_becomes_task_dep(compiled):
    assert compiled["app:push"]["task_dep"] == ["app:question", "base:push"]
    assert compiled["app:question"]["task_dep"] == []


def test_local_registry_push_has_setup(compiled):
    assert compiled["app:push"]["setup"] == [REGISTRY_START]
    assert compiled["base:push"]["setup"] == [REGISTRY_START]
    assert "setup" not in compiled["app:image"]


def test_external_registry_push_has_no_setup():
    tasks, _, _ = compile_project(VALID, {"AC295_REGISTRY": "registry.example.com"})
    assert "setup" not in tasks["app:push"] and "setup" not in tasks["base:push"]
    # The FROM edge follows the registry variable.
    assert tasks["app:image"]["file_dep"] == [record("base:image")]


def test_uptodate_holds_the_step_config(compiled):
    _, exercises, _ = compile_project(VALID)
    step = {e.name: e for e in exercises}["app"].steps["question"]
    changed = compiled["app:question"]["uptodate"][0]
    assert isinstance(changed, config_changed)
    assert changed.config == graph.step_config(step, VALID)


# --- step_config ---------------------------------------------------------------------------

@pytest.fixture
def app_steps() -> dict[str, Step]:
    _, exercises, _ = compile_project(VALID)
    return dict({e.name: e for e in exercises}["app"].steps)


def test_step_config_content(app_steps):
    data = graph.step_config(app_steps["image"], VALID)
    assert data == {
        "kind": "build", "context": "exercises/app", "dockerfile": "exercises/app/Dockerfile",
        "tag": "127.0.0.1:5000/maggie/app:v1",
        "args": {"BASE_IMAGE": "127.0.0.1:5000/ac295/base:v1"},
        "bases": ["127.0.0.1:5000/ac295/base:v1"], "include": {},
    }
    json.dumps(graph.step_config(app_steps["question"], VALID))  # JSON-able


def test_step_config_ignores_doc_order_and_lines(app_steps):
    step = app_steps["question"]
    edited = dataclasses.replace(
        step, doc="a new doc", after=("app:image",),
        where=Where(step.where.file, step.where.line + 7, step.where.key),
        lines={k: v + 7 for k, v in step.lines.items()})
    assert graph.step_config(edited, VALID) == graph.step_config(step, VALID)


def test_step_config_changes_with_what_matters(app_steps):
    step = app_steps["question"]
    assert graph.step_config(dataclasses.replace(step, timeout=31), VALID) != \
        graph.step_config(step, VALID)
    assert graph.step_config(dataclasses.replace(step, env={"WHO": "john"}), VALID) != \
        graph.step_config(step, VALID)


def test_step_config_is_the_same_in_a_clone_elsewhere(tmp_path, app_steps):
    clone = tmp_path / "clone"
    shutil.copytree(VALID, clone)
    _, exercises, _ = compile_project(clone)
    moved = {e.name: e for e in exercises}["app"].steps
    for name, step in app_steps.items():
        assert graph.step_config(moved[name], clone.resolve()) == \
            graph.step_config(step, VALID)


# --- image references that docker treats as equal ----------------------------------------

def test_implicit_latest_tag_still_links_the_steps(tmp_path):
    (tmp_path / "ac295.yml").write_text("variables:\n  registry: 127.0.0.1:5000\n")
    for name, text in (("a", "FROM scratch\n"), ("b", "FROM 127.0.0.1:5000/me/base:latest\n")):
        folder = tmp_path / "exercises" / name
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(text)
        tag = "{registry}/me/base" if name == "a" else "{registry}/me/b:1"
        (folder / "exercise.yml").write_text(
            f"doc: {name}\nsteps:\n  image: {{build: ., tag: '{tag}'}}\n")
    tasks, _, _ = compile_project(tmp_path)
    a_record = str(tmp_path.resolve() / ".ac295" / "records" / "a" / "image.json")
    assert tasks["b:image"]["file_dep"] == [a_record]


# --- every field of every step kind is part of its config digest -------------------------------

def _changed(value: Any) -> Any:
    """Another value of the same shape, so that a field's change can be seen."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        first = dataclasses.fields(value)[0]
        return dataclasses.replace(value, **{first.name: _changed(getattr(value, first.name))})
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, Path):
        return value / "x"
    if isinstance(value, tuple):
        return value + ("x",)
    if isinstance(value, dict) or hasattr(value, "items"):
        return {**value, "x": "y"}
    return "x"  # None: an optional key now set


SKIPPED = {"exercise", "name", "doc", "after", "where", "lines"}  # not part of a config


def test_the_sample_holds_every_kind(tmp_path):
    # the sample is the docs' examples (helpers.example_steps): a new kind is in it with its
    # section, and grade-student, which no spec names, comes from a grade step's expansion
    assert {s.kind for s in example_steps(tmp_path)} == {k.name for k in KINDS}


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_changing_any_field_changes_the_config_digest(tmp_path, kind):
    step = next(s for s in example_steps(tmp_path) if s.kind == kind)
    names = [f.name for f in dataclasses.fields(step) if f.name not in SKIPPED]
    assert names, f"{kind} steps have no fields of their own"
    root = tmp_path.resolve()
    unseen = [name for name in names
              if graph.step_config(dataclasses.replace(step, **{name: _changed(getattr(step, name))}),
                                   root, "127.0.0.1:5000")
              == graph.step_config(step, root, "127.0.0.1:5000")]
    assert not unseen, f"editing {kind}'s {unseen} would rerun nothing"


def test_the_registry_host_is_not_part_of_a_config(tmp_path):
    step = next(s for s in example_steps(tmp_path) if s.kind == "build")
    moved = dataclasses.replace(step, tag=step.tag.replace("127.0.0.1:5000", "10.0.0.1:443"))
    assert graph.step_config(step, tmp_path, "127.0.0.1:5000") == \
        graph.step_config(moved, tmp_path, "10.0.0.1:443")


def test_the_config_check_holds_places_relative_and_the_registry_as_a_variable(compiled):
    config = compiled["app:image"]["uptodate"][0].config
    assert config["context"] == "exercises/app"
    assert config["dockerfile"] == "exercises/app/Dockerfile"
    assert config["tag"] == "{registry}/maggie/app:v1"
    assert config["args"] == {"BASE_IMAGE": "{registry}/ac295/base:v1"}


def test_places_outside_the_project_and_the_project_itself(app_steps):
    import dataclasses

    step = dataclasses.replace(app_steps["image"], context=VALID,
                               dockerfile=Path("/elsewhere/Dockerfile"))
    data = graph.step_config(step, VALID)
    assert data["context"] == "." and data["dockerfile"] == "/elsewhere/Dockerfile"


def test_a_step_without_a_doc_is_named_by_its_kind(tmp_path):
    root = write_project(tmp_path, {"exercises/ex/exercise.yml": """\
        doc: no docs on steps
        steps:
          made: {sh: "echo > out.txt", targets: [out.txt]}
        """})
    tasks, _, _ = compile_project(root)
    assert tasks["ex:made"]["doc"] == "sh step of ex"


def test_a_single_task_made_alone_finds_the_makers_of_its_images():
    from tasks.graph.edges import Producers
    from tasks.kinds import KINDS

    _, exercises, rt = compile_project(VALID)
    app = {e.name: e for e in exercises}["app"]
    alone = graph.step_task(rt, KINDS, app, app.steps["image"], Producers(exercises, KINDS))
    check = alone["uptodate"][-1]
    makers = check.args[-1]
    assert makers == {"127.0.0.1:5000/ac295/base:v1": rt.record_path("base:image")}
