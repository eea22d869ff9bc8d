"""`doit shell`'s command line, in a copy of the project: what it says before it opens anything
(no engine is asked: the tests have no terminal, and steps with no environment need none)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from clones import copy_project


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("shell") / "ac295")


def shell(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    return subprocess.run([str(root / ".venv/bin/doit"), "shell", *args], cwd=root, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, code, words", [
    ((), 3, "ERROR: name one step: `doit shell exercise2:image`"),
    (("exercise2:image", "exercise2:push"), 3, "name one step"),
    (("exercise2",), 3, "exercise2 is an exercise: name one of its steps (exercise2:image, "
                        "exercise2:push, exercise2:question)"),
    (("prune",), 3, "prune is not a step of an exercise"),
    (("nosuch:step",), 3, "no task nosuch:step"),
    (("exercise2:push",), 1, "exercise2:push pushes exercise2:image's image, with no "
                             "environment of its own; open the image's: "
                             "script/doit shell exercise2:image"),
    (("exercise2:push", "-c"), 1, "script/doit shell exercise2:image"),  # -c after the task
    (("-c", "exercise2:push"), 1, "script/doit shell exercise2:image"),
    (("exercise2:image",), 3, "`doit shell` needs a terminal"),
])
def test_what_shell_says_before_it_opens_anything(copy, args, code, words):
    found = shell(copy, *args)
    assert found.returncode == code, found.stderr
    assert words in found.stderr
    assert "Traceback" not in found.stderr + found.stdout


def test_shell_is_listed_among_the_commands(copy):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    found = subprocess.run([str(copy / ".venv/bin/doit"), "help"], cwd=copy, env=env,
                           capture_output=True, text=True, timeout=120)
    assert "shell" in found.stdout and "a step's environment" in found.stdout


def test_a_broken_exercise_says_why_its_steps_cannot_be_opened(tmp_path):
    root = copy_project(tmp_path / "ac295")
    (root / "exercises/exercise2/exercise.yml").write_text(
        "doc: broken\nsteps:\n  image: {build: nosuch, tag: x/y:1}\n")
    found = shell(root, "exercise2:image")
    assert found.returncode == 3
    assert "the exercise exercise2 cannot be loaded" in found.stderr
    assert "exercise.yml:3" in found.stderr and "Traceback" not in found.stderr
