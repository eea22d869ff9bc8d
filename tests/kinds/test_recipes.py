"""The one recipe runner (sh, measure, an import's recipe): output, failures, input, folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.errors import RecipeError
from tasks.kinds import recipes


def test_output_is_shown_line_by_line_in_order(tmp_path, capsys):
    recipes.run("echo one; echo two >&2; echo three", tmp_path, "ex:s", tmp_path / "e.yml", "sh")
    assert capsys.readouterr().out.splitlines() == ["$ echo one; echo two >&2; echo three",
                                                    "one", "two", "three"]


def test_it_runs_in_the_given_folder(tmp_path, capsys):
    recipes.run("pwd", tmp_path, "ex:s", tmp_path / "e.yml", "sh")
    assert capsys.readouterr().out.splitlines()[-1] == str(tmp_path)


def test_a_recipe_gets_no_input(tmp_path, capsys):
    # `cat` with the terminal's or doit's stdin would wait; with none it ends at once
    recipes.run("cat; echo done", tmp_path, "ex:s", tmp_path / "e.yml", "sh")
    assert capsys.readouterr().out.splitlines()[-1] == "done"


def test_a_failure_names_step_command_exit_code_last_lines_and_the_fix(tmp_path):
    spec = tmp_path / "exercise.yml"
    script = "for i in $(seq 0 39); do echo line$i; done; exit 3"
    with pytest.raises(RecipeError) as err:
        recipes.run(script, tmp_path, "ex:data", spec, "recipe")
    text = str(err.value)
    assert text.startswith(f"ex:data: the recipe failed (exit 3): {script}\n")
    assert "line39" in text and "line25" in text and "line24" not in text  # the last 15
    assert f"'recipe:' in {spec}" in text and f"run it by hand in {tmp_path}" in text


def test_a_silent_failure_says_it_printed_nothing(tmp_path):
    with pytest.raises(RecipeError, match=r"\(exit 1\): false \(it printed nothing\)"):
        recipes.run("false", tmp_path, "ex:s", tmp_path / "e.yml", "sh")


def test_a_folder_that_is_gone_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(RecipeError, match="cannot run the recipe in"):
        recipes.run("true", tmp_path / "gone", "ex:s", Path("e.yml"), "sh")
