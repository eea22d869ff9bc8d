"""The ``sh`` kind: a recipe's targets cleared before it runs and checked after, its deps
checked for edits while it ran, its task dict, its lock facts (hashed here by the test)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from doit.exceptions import TaskFailed

from helpers import WHERE, runtime
from tasks.dsl.model import Exercise
from tasks.errors import LockError, RecipeError
from tasks.kinds import KINDS, sh
from tasks.kinds.actions import Action
from tasks.kinds.base import TaskContext
from tasks.kinds.sh import ShStep


def recipe(tmp_path: Path, commands: tuple[str, ...], targets: tuple[str, ...] = ("out.txt",),
           deps: tuple[str, ...] = ("in.txt",)) -> ShStep:
    (tmp_path / "in.txt").write_text("input\n")
    return ShStep(exercise="ex", name="make", doc="", after=(), where=WHERE,
                  commands=commands, deps=tuple(tmp_path / d for d in deps),
                  targets=tuple(tmp_path / t for t in targets))


def task_of(tmp_path: Path, step: ShStep) -> dict:
    rt, _ = runtime(tmp_path)
    exercise = Exercise("ex", "", tmp_path, tmp_path / "exercise.yml", {"make": step})
    return KINDS.of(step).task(step, TaskContext(rt=rt, exercise=exercise))


def run_actions(task: dict) -> object:
    """Run a task's actions as doit does: in order, stopping at the first failure."""
    for function, args in task["actions"]:
        result = function(*args)
        if isinstance(result, TaskFailed):
            return result
    return None


def test_a_recipe_that_makes_its_target_passes_and_leaves_it(tmp_path):
    step = recipe(tmp_path, ("cp in.txt out.txt",))
    assert run_actions(task_of(tmp_path, step)) is None
    assert (tmp_path / "out.txt").read_text() == "input\n"


def test_a_recipe_that_exits_0_without_its_target_fails_and_says_where_to_fix(tmp_path):
    step = recipe(tmp_path, ("true",))
    result = run_actions(task_of(tmp_path, step))
    assert isinstance(result, TaskFailed)
    assert result.message == (f"ex:make: the recipe succeeded but did not make "
                              f"{tmp_path / 'out.txt'}. Fix the recipe or its 'targets:' in "
                              f"{WHERE.file}.")


def test_a_stale_target_is_cleared_before_the_recipe_runs(tmp_path):
    """A target left by an earlier run must not pass for this run's (Make's .DELETE_ON_ERROR)."""
    (tmp_path / "out.txt").write_text("from an earlier run\n")
    step = recipe(tmp_path, ("test ! -e out.txt", "echo made > out.txt"))
    assert run_actions(task_of(tmp_path, step)) is None
    assert (tmp_path / "out.txt").read_text() == "made\n"
    (tmp_path / "out.txt").write_text("stale\n")
    failing = recipe(tmp_path, ("exit 3",))
    assert isinstance(run_actions(task_of(tmp_path, failing)), TaskFailed)
    assert not (tmp_path / "out.txt").exists()  # no half-made or stale result is left


def test_clearing_removes_target_files_and_links_and_nothing_else(tmp_path):
    (tmp_path / "a").write_text("a")
    (tmp_path / "link").symlink_to("a")
    (tmp_path / "dir").mkdir()
    step = recipe(tmp_path, ("true",), targets=("link", "missing", "dir"))
    sh.clear_targets(step)
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "a").read_text() == "a"
    assert (tmp_path / "dir").is_dir()  # a folder is not a target file: left alone


@pytest.mark.parametrize("edit", ["changed", "deleted"])
def test_a_dep_edited_while_the_recipe_ran_fails_it(tmp_path, edit):
    step = recipe(tmp_path, ("true",))
    box: dict[str, str] = {}
    sh.snapshot(step, box)
    assert box == {str(tmp_path / "in.txt"): hashlib.sha256(b"input\n").hexdigest()}
    if edit == "changed":
        (tmp_path / "in.txt").write_text("edited meanwhile\n")
    else:
        (tmp_path / "in.txt").unlink()
    with pytest.raises(RecipeError) as err:
        sh.check_unchanged(step, box)
    assert str(err.value) == (f"ex:make: {tmp_path / 'in.txt'} changed while the recipe ran; "
                              "its result may be from the old content. Run again.")


def test_an_untouched_dep_passes_and_a_new_snapshot_replaces_the_old(tmp_path):
    step = recipe(tmp_path, ("true",))
    box = {"/gone/file": "0" * 64}
    sh.snapshot(step, box)
    assert list(box) == [str(tmp_path / "in.txt")]
    sh.check_unchanged(step, box)  # no error


def test_the_task_runs_its_steps_in_order(tmp_path):
    step = recipe(tmp_path, ("cp in.txt out.txt", "echo two >> out.txt"))
    task = task_of(tmp_path, step)
    names = [function.__name__ for function, _ in task["actions"]]
    assert names == ["clear_targets", "snapshot", "run", "run", "check_unchanged",
                     "check_targets"]
    commands = [args[0] for function, args in task["actions"] if function.__name__ == "run"]
    assert commands == ["cp in.txt out.txt", "echo two >> out.txt"]
    for function, args in task["actions"]:
        if function.__name__ == "run":
            assert args[1:] == (tmp_path, "ex:make", WHERE.file, "sh")  # in its folder
    assert task["file_dep"] == [str(tmp_path / "in.txt")]
    assert all(isinstance(function, Action) for function, _ in task["actions"])


def test_a_recipe_without_targets_is_phony_and_has_no_lock_entry(tmp_path):
    kind = KINDS.of(recipe(tmp_path, ("true",)))
    phony = recipe(tmp_path, ("true",), targets=())
    assert kind.ephemeral(phony) == "a recipe without targets is phony, like Make's"
    assert kind.ephemeral(recipe(tmp_path, ("true",))) == ""
    assert kind.locks(phony) is False and kind.locks(recipe(tmp_path, ("true",))) is True
    assert kind.lock_facts(phony, None, {}) is None


def test_the_lock_holds_each_target_hashed(tmp_path):
    step = recipe(tmp_path, ("true",), targets=("out.txt", "sub/two.txt"))
    (tmp_path / "out.txt").write_text("one\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "two.txt").write_bytes(b"\x00two")
    assert KINDS.of(step).lock_facts(step, None, {}) == {
        "out.txt": "sha256:" + hashlib.sha256(b"one\n").hexdigest(),
        "two.txt": "sha256:" + hashlib.sha256(b"\x00two").hexdigest()}
    (tmp_path / "sub" / "two.txt").unlink()
    with pytest.raises(LockError, match=r"^ex:make has not made two.txt; run it first\.$"):
        KINDS.of(step).lock_facts(step, None, {})


def test_targets_stand_for_the_step_and_deps_are_what_it_reads(tmp_path):
    step = recipe(tmp_path, ("true",), targets=("out.txt",), deps=("in.txt",))
    kind = KINDS.of(step)
    assert kind.outputs(step, tmp_path / "record.json") == [tmp_path / "out.txt"]
    assert kind.makes(step, Exercise("ex", "", tmp_path, tmp_path / "e.yml")).files == \
        (tmp_path / "out.txt",)
    assert kind.reads(step).files == (tmp_path / "in.txt",)
