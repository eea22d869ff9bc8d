"""A broken spec fails before anything runs: file:line and key, exit 3, no traceback."""
from __future__ import annotations

import os

import pytest

from clones import Project, copy_project

BROKEN = {
    "unknown key": ("    tag:", "    tga:", "exercise.yml:6 (key 'steps.image.tga')",
                    "Did you mean 'tag'?"),
    "wrong type": ("    command: [python3, /app/Question.py]", "    command: {a: 1}",
                   "exercise.yml:12 (key 'steps.question.command')", "list of strings"),
    "dangling reference": ("    run: image", "    run: imag", "exercise.yml:11",
                           "Did you mean 'image'?"),
    "cycle": ("    build: .", "    build: .\n    after: [push]", "exercise.yml:",
              "cycle: exercise2:"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_spec_fails_before_anything_runs(tmp_path, case: str) -> None:
    old, new, where, hint = BROKEN[case]
    root = copy_project(tmp_path / "ac295")
    spec = root / "exercises/exercise2/exercise.yml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    proj = Project(root, dict(os.environ), "", "")
    for args in (("exercise2",), ("list",)):
        run = proj.doit(*args, check=False)
        assert run.returncode == 3
        assert where in run.stderr and hint in run.stderr
        assert "Traceback" not in run.stderr + run.stdout
        assert run.executed == []
    assert not (root / ".ac295" / "records").exists()


def test_conda_only_package_in_environment_yml_fails_before_anything_runs(tmp_path) -> None:
    root = copy_project(tmp_path / "ac295")
    env = root / "exercises/venv/environment.yml"
    env.write_text(env.read_text().replace("  - pip\n", "  - pip\n  - numpy=1.26\n", 1))
    run = Project(root, dict(os.environ), "", "").doit("venv", check=False)
    assert run.returncode == 3
    assert "environment.yml:6 (key 'dependencies[2]')" in run.stderr
    assert "only pip packages are supported" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert run.executed == []
