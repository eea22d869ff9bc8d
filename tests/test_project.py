"""One bad exercise never stops the others: broken exercises are set aside with their error,
under a task name that can never take the place of a command or of the project's own tasks."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import DATA, doit_main, write_project
from tasks import project
from tasks.names import PROJECT_TASKS

RESERVED_FOLDERS = ["list", "lock", "prune", "registry_start", "registry_stop", "verify", "why"]


@pytest.fixture
def reserved(tmp_path) -> tuple[Path, dict[str, str]]:
    """The fixture with a folder named after each project task and command, and a good one."""
    root = tmp_path / "p"
    shutil.copytree(DATA / "reserved_names", root)
    return root, {"AC295_STATE_DIR": str(tmp_path / "state")}


def test_folders_named_like_commands_are_set_aside_not_in_their_place(reserved):
    root, environ = reserved
    config, tasks = project.load(root, environ=environ)
    names = [t["basename"] + (":" + t["name"] if t.get("name") else "") for t in tasks]
    assert len(names) == len(set(names))  # doit refuses a name defined twice
    broken = {t["basename"]: t for t in tasks if t.get("doc", "").startswith("BROKEN")}
    assert sorted(broken) == [f"exercises/{name}" for name in RESERVED_FOLDERS]
    for name in RESERVED_FOLDERS:
        doc = broken[f"exercises/{name}"]["doc"]
        assert f"exercises/{name}/exercise.yml:1:" in doc and f"'{name}'" in doc
    for name in PROJECT_TASKS:  # the project's own tasks are the project's
        task = next(t for t in tasks if t["basename"] == name)
        assert not task.get("doc", "").startswith("BROKEN")
    assert "ok" in config["default_tasks"]
    assert "exercises/lock" in config["default_tasks"]  # a full run reports it


def test_list_and_registry_stop_work_beside_them(reserved, capsys):
    root, environ = reserved
    assert doit_main(root, "list", environ=environ) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0]: line for line in out.splitlines()}
    assert "BROKEN" not in listed["lock"] and "ac295.lock" in listed["lock"]
    assert "BROKEN" in listed["exercises/lock"]
    assert listed["ok"].split(None, 1)[1] == "a good one beside them"
    assert doit_main(root, "registry_stop", environ=environ) == 0
    assert doit_main(root, "ok", environ=environ) == 0  # the good one runs
    assert "hello" in capsys.readouterr().out


def test_running_a_set_aside_exercise_says_its_error(reserved, capsys):
    root, environ = reserved
    assert doit_main(root, "exercises/lock", environ=environ) == 1
    out = capsys.readouterr().out
    assert "exercises/lock/exercise.yml:1: the folder name 'lock' is one of the project's " \
           "own tasks" in out
    assert "Rename the folder" in out and "Traceback" not in out


def test_a_folder_with_an_equal_sign_is_set_aside_too(tmp_path, capsys):
    root = write_project(tmp_path / "p", {
        "exercises/a=b/exercise.yml": "doc: d\nsteps:\n  s: {sh: 'true'}\n",
        "exercises/ok/exercise.yml": "doc: fine\nsteps:\n  s: {sh: 'true'}\n"})
    assert doit_main(root, "list", environ={"AC295_STATE_DIR": str(tmp_path / "s")}) == 0
    out = capsys.readouterr().out
    assert "exercises/a_b" in out and "'='" in out and "ok " in out
