"""What `doit watch` reads of a graph: which saves matter, who reads them, what is downstream.

The expected sets are tables written by hand for a small project written here; the project
is loaded as dodo.py loads it and turned into doit tasks as doit does.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from doit.control import TaskControl
from doit.loader import generate_tasks

from helpers import write_project
from tasks import project, warm
from tasks.engine.client import Engine
from tasks.kinds import KINDS

APP = """\
doc: an app
steps:
  image: {build: image, tag: "{registry}/me/app:v1"}
  question:
    run: image
    command: [python3, /app/q.py]
  push:
    push: image
    after: [question]
  net: {network: "wchnet"}
  db:
    run: image
    detach: true
    network: net
  probe:
    sh: python3 probe.py
    deps: [probe.py]
    after: [db]
  data:
    sh: ./make.sh out.txt
    deps: [make.sh]
    targets: [out.txt]
"""
OTHER = """\
doc: reads the app's push
steps:
  pulled: {pull: "{registry}/me/app:v1"}
  check:
    run: pulled
    command: [echo, ok]
"""
FILES = {
    "exercises/app/exercise.yml": APP,
    "exercises/app/image/Dockerfile": "FROM scratch\nCOPY q.py /app/\n",
    "exercises/app/image/q.py": "print(1)\n",
    "exercises/app/image/NOTES.md": "notes\n",
    "exercises/app/image/.dockerignore": "NOTES.md\n",
    "exercises/app/probe.py": "",
    "exercises/app/make.sh": "#!/bin/sh\n",
    "exercises/other/exercise.yml": OTHER,
}
APP_STEPS = {f"app:{s}" for s in ("image", "question", "push", "net", "db", "probe", "data")}
#: What each save makes a round run (readers, and what is downstream of them), by hand.
ROUNDS = {
    "exercises/app/image/q.py": {"app:image", "app:question", "app:push", "app:db", "app:probe",
                           "other:pulled", "other:check"},
    "exercises/app/image/Dockerfile": {"app:image", "app:question", "app:push", "app:db",
                                 "app:probe", "other:pulled", "other:check"},
    "exercises/app/image/.dockerignore": {"app:image", "app:question", "app:push", "app:db",
                                    "app:probe", "other:pulled", "other:check"},
    "exercises/app/probe.py": {"app:probe"},
    "exercises/app/make.sh": {"app:data"},
    "exercises/app/image/NOTES.md": set(),
    "exercises/app/exercise.yml": set(),  # a reload: the steps whose keys changed run
    "exercises/app/out.txt": set(),  # a target: the run wrote it
}


class Loaded:
    def __init__(self, root: Path) -> None:
        self.graph = project.load_graph(root, environ={}, engine=Engine(factory=_no_engine))
        assert not self.graph.broken or "tru" in str(self.graph.broken), self.graph.broken
        copies = (dict(t) for t in self.graph.tasks)
        control = TaskControl(list(generate_tasks("ac295", copies)))
        self.tasks = control.tasks
        self.edges = warm.Edges.of(self.tasks.values())
        self.index = warm.Index.of(self.graph, KINDS, self.tasks.values())

    def round(self, rel: str, watched: list[str] | None = None) -> set[str]:
        path = self.graph.config.root / rel
        within = self.edges.watched(watched or self.graph.doit_config["default_tasks"])
        found = self.edges.downstream(self.index.readers([path]), within)
        return found & self.edges.actions


def _no_engine() -> None:
    raise AssertionError("indexing a graph must not ask the engine")


@pytest.fixture
def loaded(tmp_path) -> Loaded:
    return Loaded(write_project(tmp_path / "p", FILES))


@pytest.mark.parametrize("rel", sorted(ROUNDS))
def test_a_save_runs_its_readers_and_what_follows(loaded, rel) -> None:
    assert loaded.round(rel) == ROUNDS[rel]


def test_only_the_watched_selection_runs(loaded) -> None:
    assert loaded.round("exercises/app/image/q.py", ["app"]) == ROUNDS["exercises/app/image/q.py"] - {
        "other:pulled", "other:check"}
    # watching `other` watches what it needs: the app's image and push, not its probes
    assert loaded.round("exercises/app/image/q.py", ["other"]) == {
        "app:image", "app:question", "app:push", "other:pulled", "other:check"}


def test_what_a_run_of_the_selection_considers(loaded) -> None:
    watched = loaded.edges.watched(["other"])
    # the pull needs the push, which needs the image and the check's ordering
    assert {"other:pulled", "other:check", "app:push", "app:image", "app:question"} <= watched
    assert "app:probe" not in watched and "app:data" not in watched


def test_group_tasks_run_nothing_and_are_no_edge(loaded) -> None:
    assert {"app", "other"} <= loaded.edges.groups
    assert not ({"app", "other"} & loaded.edges.actions)
    assert loaded.edges.downstream({"app:probe"}, set(loaded.tasks)) == {"app:probe"}


def test_reloads_are_specs_config_and_parse_inputs(loaded) -> None:
    root = loaded.graph.config.root
    paths = [root / "ac295.yml", root / "exercises/app/exercise.yml",
             root / "exercises/app/image/Dockerfile", root / "exercises/new/exercise.yml",
             root / "exercises/app/image/q.py", root / "exercises/app/sub/exercise.yml"]
    assert loaded.index.reload(paths) == paths[:4]


@pytest.mark.parametrize("rel, relevant", [
    ("exercises/app/image/q.py", True),
    ("exercises/app/image/NOTES.md", True),  # relevant, but nothing reads it (see ROUNDS)
    ("exercises/app/.q.py.swp", False), ("exercises/app/.q.py.swx", False),
    ("exercises/app/q.py~", False), ("exercises/app/#q.py#", False),
    ("exercises/app/.#q.py", False), ("exercises/app/4913", False),
    ("exercises/app/q.py___jb_tmp___", False), ("exercises/app/.goutputstream-ABC123", False),
    ("exercises/app/sedAb12Cd", False), ("exercises/app/__pycache__/q.cpython-311.pyc", False),
    ("exercises/app/.git/index", False), ("exercises/app/out.txt", False),
    (".ac295/records/app/image.json", False), ("elsewhere.txt", True),
])
def test_what_never_starts_a_round(loaded, rel, relevant) -> None:
    assert loaded.index.relevant(loaded.graph.config.root / rel) is relevant


def test_outside_the_project_is_not_relevant(loaded, tmp_path) -> None:
    assert loaded.index.relevant(tmp_path / "q.py") is False


def test_a_new_file_in_a_context_is_read_unless_dockerignore_leaves_it_out(loaded) -> None:
    root = loaded.graph.config.root
    new, ignored = root / "exercises/app/image/new.py", root / "exercises/app/image/NOTES2.md"
    new.write_text("x\n")
    assert loaded.index.readers([new]) == {"app:image"}
    (root / "exercises/app/image/.dockerignore").write_text("NOTES*.md\nexercise.yml\n")
    loaded.index.readers([root / "exercises/app/image/.dockerignore"])
    ignored.write_text("x\n")
    assert loaded.index.readers([ignored]) == set()


def test_a_deleted_file_that_was_in_the_context_is_read(loaded) -> None:
    path = loaded.graph.config.root / "exercises/app/image/q.py"
    path.unlink()
    assert loaded.index.readers([path]) == {"app:image"}


def test_changed_steps_are_new_ones_and_those_whose_keys_changed(tmp_path) -> None:
    root = write_project(tmp_path / "p", FILES)
    before = warm.step_configs(Loaded(root).graph, KINDS)
    spec = root / "exercises/app/exercise.yml"
    spec.write_text(APP.replace("command: [python3, /app/q.py]", "command: [python3, -V]")
                    .replace("doc: an app", "doc: a new doc line")  # a doc: no rerun
                    + "  extra:\n    sh: echo hi\n")
    after = warm.step_configs(Loaded(root).graph, KINDS)
    assert warm.changed_steps(before, after) == {"app:question", "app:extra"}


def test_a_broken_exercise_is_set_aside_and_its_spec_reloads(tmp_path) -> None:
    root = write_project(tmp_path / "p", {**FILES, "exercises/app/exercise.yml":
                                          APP.replace("detach: true", "detach: tru")})
    loaded = Loaded(root)
    assert set(loaded.graph.broken) == {"app"}
    spec = root / "exercises/app/exercise.yml"
    assert loaded.index.reload([spec]) == [spec]


@pytest.mark.parametrize("name, temporary", [
    ("Question.py", False), ("Dockerfile", False), ("notes.md", False), ("a.swp", True),
    (".a.swo", True), ("a~", True), ("#a#", True), (".#a", True), ("4913", True),
    ("a.kate-swp", True), ("a.pyc", True), ("a.tmp", True), ("a.orig", True),
    ("a.py___jb_old___", True), ("swap.py", False), ("temp.py", False)])
def test_editor_temporary_files(name, temporary) -> None:
    assert warm.editor_temporary(name) is temporary
