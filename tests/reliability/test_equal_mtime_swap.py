"""An input whose content changes while its mtime is put back is still seen as changed."""
from __future__ import annotations

import os

from clones import clone


def test_equal_mtime_content_swap_reruns_the_recipe(tmp_path, make_registry):
    project = clone(tmp_path, make_registry().host)
    project.doit("demo1")
    syllabus = project.root / "exercises/demo1/syllabus.md"
    before = os.stat(syllabus)
    text = syllabus.read_text()
    swapped = text.replace("9:00", "8:00", 1)  # same size, same count of digit lines
    assert swapped != text and len(swapped) == len(text)
    syllabus.write_text(swapped)
    os.utime(syllabus, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(syllabus).st_mtime_ns == before.st_mtime_ns
    run = project.doit("demo1")
    print(f"FIGURE equal-mtime swap: reran {sorted(run.executed)}")
    assert "demo1:count-native" in run.executed  # a file_dep of a recipe: the checker
    assert "demo1:image" in run.executed  # a build context file: the inputs digest


def test_dep_edited_while_its_recipe_runs_is_not_recorded_as_built(tmp_path):
    """doit records file_deps after the task (its issue 119); the guard fails the task, so
    the next run (same spec) redoes it on the new content instead of skipping it."""
    project = clone(tmp_path, "127.0.0.1:5999")
    folder = project.root / "exercises/editing"
    folder.mkdir()
    (folder / "dep.txt").write_text("one\n")
    (folder / "exercise.yml").write_text(
        "doc: a recipe whose input is edited while it runs (once)\nsteps:\n  copy:\n"
        "    sh: cp dep.txt {state}/out.txt && (test -f {state}/edited || "
        "(touch {state}/edited && echo two >> dep.txt))\n"
        "    deps: [dep.txt]\n    targets: ['{state}/out.txt']\n")
    run = project.doit("editing", check=False)
    assert run.returncode != 0 and "changed while the recipe ran" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    run = project.doit("editing")
    assert "editing:copy" in run.executed  # without the guard: `--`, out.txt stale
    assert (project.state / "out.txt").read_text() == "one\ntwo\n"
