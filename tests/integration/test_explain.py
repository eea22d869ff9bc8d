"""The graph explains itself: `why` gives reasons in the project's words, `status` says what
the next run does, `graph` draws every task and dependency."""
from __future__ import annotations

import re
from pathlib import Path

from helpers import task_name
from tasks import project as project_mod


def _why(project, *names: str, extra: tuple[str, ...] = ()) -> dict[str, str]:
    out = project.doit("why", *names, *extra).stdout
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S+:\S+|\S+)\s+(.*)$", out, re.M)}


def test_why_names_the_file_the_missing_image_and_the_moved_registry(project, engine,
                                                                      make_registry) -> None:
    project.doit("exercise2")
    question = project.root / "exercises/exercise2/Question.py"
    original = question.read_text()
    question.write_text(original + "# why\n")
    try:
        said = _why(project, "exercise2")
        assert said["exercise2:image"].startswith("will run: Question.py changed (")
        for step in ("exercise2:question", "exercise2:push"):
            assert said[step] == "may run: only if exercise2:image makes a different result"
    finally:
        question.write_text(original)
    image_id = project.local("exercise2:image")["image_id"]
    engine.images.remove(image_id, force=True)  # every tag of it: the image is gone
    said = _why(project, "exercise2")
    assert said["exercise2:image"] == "will run: the engine no longer has its image"
    project.doit("exercise2")
    other = make_registry()
    said = _why(project, "exercise2", extra=(f"registry={other.host}",
                                             "registry_service=external"))
    assert said["exercise2:push"].startswith(
        f"will run: the registry moved ({project.registry} -> {other.host}): ")
    assert said["exercise2:image"].startswith("up to date")  # the image is the same


#: The files _edits changes.
EDITED = ("exercises/exercise2/Question.py", "exercises/exercise2/Dockerfile",
          "exercises/exercise2/exercise.yml", "exercises/demo1/syllabus.md",
          "exercises/upstream/README.md", "exercises/demo1/compare.py")


# Edits, each with the exercises to ask about and run (at least six kinds of edits).
def _edits(root: Path) -> list[tuple[str, list[str], object]]:
    def append(rel: str, text: str):
        return lambda: (root / rel).write_text((root / rel).read_text() + text)

    def replace(rel: str, old: str, new: str):
        return lambda: (root / rel).write_text((root / rel).read_text().replace(old, new))

    return [
        ("a source file", ["exercise2"], append("exercises/exercise2/Question.py", "# e1\n")),
        ("a Dockerfile comment", ["exercise2"], append("exercises/exercise2/Dockerfile",
                                                       "# e2\n")),
        ("a key of a step", ["exercise2"], replace("exercises/exercise2/exercise.yml",
                                                   'stdout: ["^Answer: 2640$"]',
                                                   'stdout: ["^Answer: 2640"]')),
        ("a demo's data", ["demo1"], append("exercises/demo1/syllabus.md", "\nno digits\n")),
        ("an upstream image", ["upstream", "exercise1"],
         append("exercises/upstream/README.md", "\nOne more line.\n")),
        ("a recipe's script", ["demo1"], append("exercises/demo1/compare.py", "# e6\n")),
        ("nothing (a touch)", ["exercise2", "demo1"],
         lambda: (root / "exercises/exercise2/Question.py").touch()),
    ]


def _status(project, names: list[str]) -> dict[str, str]:
    out = project.doit("status", *names).stdout
    return {line[2:]: line[0] for line in out.splitlines() if line[:2] in ("R ", "U ", "~ ",
                                                                           "A ")}


def test_status_says_what_the_next_run_does(project) -> None:
    project.doit("exercise2", "demo1", "upstream", "exercise1")
    # the copy is shared with the other tests: every file edited here is put back after
    edited = [project.root / rel for rel in EDITED]
    originals = {path: path.read_bytes() for path in edited}
    try:
        for what, names, edit in _edits(project.root):
            edit()
            marks = _status(project, names)
            steps = [t for t in marks if ":" in t]  # (registry_start is a project task)
            records = {t: (project.record(t), project.local(t)) for t in steps}
            run = project.doit(*names)
            ran = {t for t in run.executed if t in marks}
            will = {t for t, m in marks.items() if m == "R"}
            may = {t for t, m in marks.items() if m == "~"}
            always = {t for t, m in marks.items() if m == "A"}
            assert will <= ran <= will | may | always, (what, marks, sorted(ran))
            changed = {u for u in steps if (project.record(u), project.local(u)) != records[u]}
            for task in may & ran:  # "~" ran: something it reads made a different result
                assert changed - {task}, (what, task)
            assert set(project.doit(*names).executed) <= always  # and then it is settled
    finally:
        for path, data in originals.items():
            path.write_bytes(data)


def test_the_picture_holds_every_task_and_dependency(project) -> None:
    run = project.doit("graph")
    svg = project.state / "graph" / "all.svg"
    png = project.state / "graph" / "all.png"
    assert svg.exists() and png.exists() and png.read_bytes()[:4] == b"\x89PNG"
    dot = (project.state / "graph" / "all.dot").read_text()
    assert "wrote" in run.stdout
    # the expected graph, from the task dicts doit loads (not from the picture's own code)
    _, dicts = project_mod.load(project.root, environ=project.env)
    tasks = {task_name(t): t for t in dicts}
    makers = {target: name for name, t in tasks.items() for target in t.get("targets", [])}
    steps = {n for n, t in tasks.items() if ":" in n and t.get("actions")}
    nodes = set(re.findall(r'^\s+"([^"]+)" \[label=', dot, re.M)) - {
        n for n in re.findall(r'^\s+"(legend [^"]+)"', dot, re.M)}
    assert steps <= nodes
    edges = set(re.findall(r'^\s+"([^"]+)" -> "([^"]+)"', dot, re.M))
    expected = set()
    for name in nodes:
        task = tasks[name]
        expected |= {(makers[f], name) for f in task.get("file_dep", []) if f in makers
                     and makers[f] in nodes}
        expected |= {(d, name) for d in task.get("task_dep", []) + task.get("setup", [])
                     if d in nodes}
    assert edges == expected
