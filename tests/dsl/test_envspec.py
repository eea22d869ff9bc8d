"""environment.yml and requirements.txt parsing: what is accepted, and the errors' file:line."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.dsl import envspec
from tasks.errors import SpecError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_environment_yml(tmp_path):
    spec = envspec.load(write(tmp_path, "environment.yml", (
        "name: env_ac295\nchannels: [defaults]\ndependencies:\n  - python=3.11\n  - pip\n"
        "  - pip:\n      - tabulate==0.9.0\n      - six>=1.16\n")))
    assert spec.name == "env_ac295"
    assert spec.python == "3.11"
    assert spec.requirements == ("tabulate==0.9.0", "six>=1.16")


def test_requirements_txt(tmp_path):
    spec = envspec.load(write(tmp_path, "requirements.txt",
                              "# comment\ntabulate==0.9.0  # inline\n\nsix\n"))
    assert spec.python is None and spec.requirements == ("tabulate==0.9.0", "six")


@pytest.mark.parametrize("text, line, key, message", [
    ("name: e\ndependecies: []\n", 2, "dependecies", "Did you mean 'dependencies'?"),
    ("name: e\ndependencies:\n  - python=3.11\n  - numpy=1.26\n", 4, "dependencies[1]",
     "only pip packages are supported"),
    ("name: e\ndependencies:\n  - python=three\n", 3, "dependencies[0]",
     "cannot read the Python version 'three'"),
    ("name: e\ndependencies:\n  - pip:\n      - 'tabulate=>0.9'\n", 4, "dependencies.pip[0]",
     "is not a pip requirement"),
    ("name: e\ndependencies:\n  - conda:\n      - x\n", 3, "dependencies.conda",
     "unknown key 'conda'"),
    ("name: e\ndependencies: numpy\n", 2, "dependencies", "must be a list"),
])
def test_bad_environment_yml(tmp_path, text, line, key, message):
    path = write(tmp_path, "environment.yml", text)
    with pytest.raises(SpecError) as info:
        envspec.load(path)
    assert (info.value.where.line, info.value.where.key) == (line, key)
    assert message in str(info.value) and str(path) in str(info.value)


def test_conda_package_error_says_how_to_move_it(tmp_path):
    path = write(tmp_path, "environment.yml", "dependencies:\n  - numpy=1.26\n")
    with pytest.raises(SpecError, match="Move it under 'pip:' as 'numpy==1.26'"):
        envspec.load(path)


def test_bad_requirements_line(tmp_path):
    path = write(tmp_path, "requirements.txt", "six\nnot a requirement!\n")
    with pytest.raises(SpecError) as info:
        envspec.load(path)
    assert info.value.where.line == 2


def test_pip_options_are_refused(tmp_path):
    path = write(tmp_path, "requirements.txt", "--index-url http://x\n")
    with pytest.raises(SpecError, match="pip options"):
        envspec.load(path)
