"""A broken spec fails alone: its exercise's task fails with file:line and key, in one
paragraph and without a traceback, before anything of it runs; `doit list` marks it, and
every other command and exercise works."""
from __future__ import annotations

import os

import pytest

from clones import Project, copy_project

BROKEN = {
    "unknown key": ("    tag:", "    tga:", "exercise.yml:7 (key 'steps.image.tga')",
                    "Did you mean 'tag'?"),
    "wrong type": ("    command: [python3, /app/Question.py]", "    command: {a: 1}",
                   "exercise.yml:13 (key 'steps.question.command')", "list of strings"),
    "dangling reference": ("    run: image", "    run: imag", "exercise.yml:12",
                           "Did you mean 'image'?"),
    "cycle": ("    build: .", "    build: .\n    after: [push]", "exercise.yml:",
              "cycle: exercise2:"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_spec_fails_alone_before_anything_runs(tmp_path, case: str) -> None:
    old, new, where, hint = BROKEN[case]
    root = copy_project(tmp_path / "ac295")
    spec = root / "exercises/exercise2/exercise.yml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    proj = Project(root, dict(os.environ), "", "")
    run = proj.doit("exercise2", check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 1
    assert where in out and hint in out
    assert "Traceback" not in out
    assert run.executed == ["exercise2"]  # the broken exercise's one task, failing
    listing = proj.doit("list")
    marked = [line for line in listing.stdout.splitlines() if line.startswith("exercise2 ")]
    assert len(marked) == 1 and "BROKEN" in marked[0] and "exercise.yml:" in marked[0]
    assert "upstream " in listing.stdout  # the others are listed as usual
    proj.doit("registry_stop")
    assert not (root / ".ac295" / "records" / "exercise2").exists()


def test_conda_only_package_in_environment_yml_fails_before_anything_runs(tmp_path) -> None:
    root = copy_project(tmp_path / "ac295")
    env = root / "exercises/venv/environment.yml"
    env.write_text(env.read_text().replace("  - pip\n", "  - pip\n  - numpy=1.26\n", 1))
    run = Project(root, dict(os.environ), "", "").doit("venv", check=False)
    out = run.stdout + run.stderr
    assert run.returncode == 1
    assert "environment.yml:6 (key 'dependencies[2]')" in out
    assert "only pip packages are supported" in out
    assert "Traceback" not in out
    assert run.executed == ["venv"]


def test_an_empty_exercise_does_not_stop_the_others(project) -> None:
    folder = project.root / "exercises/zz"
    folder.mkdir()
    (folder / "exercise.yml").write_text("")
    try:
        run = project.doit("exercise2")
        assert "zz" not in run.executed
        project.doit("registry_stop")
        listing = project.doit("list")
        assert any(line.startswith("zz ") and "BROKEN" in line
                   for line in listing.stdout.splitlines())
        everything = project.doit(check=False)  # all exercises: zz fails, the rest run
        assert everything.returncode == 1 and "zz" in everything.executed
        assert "an exercise must be a mapping" in everything.stdout + everything.stderr
    finally:
        (folder / "exercise.yml").unlink()
        folder.rmdir()
