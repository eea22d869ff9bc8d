"""``run`` goes on past a failure: one exercise that fails never stops the others, and the
exit code says what kind of trouble it was (1: a step failed; 2 stays "an error")."""
from __future__ import annotations

from helpers import doit_main, write_project

RECIPE = """\
doc: {doc}
steps:
  first:
    sh: {command}
    targets: ["{{state}}/{name}-first.txt"]
  second:
    sh: echo done > {{state}}/{name}-second.txt
    deps: ["{{state}}/{name}-first.txt"]
    targets: ["{{state}}/{name}-second.txt"]
"""


def _project(tmp_path, bad: str = "exit 3"):
    files = {}
    for name, command in (("aa", bad), ("bb", "echo ok > {state}/bb-first.txt"),
                          ("cc", "echo ok > {state}/cc-first.txt")):
        files[f"exercises/{name}/exercise.yml"] = RECIPE.format(doc=name, command=command,
                                                                name=name)
    root = write_project(tmp_path / "p", files)
    return root, {"AC295_STATE_DIR": str(tmp_path / "state")}


def test_a_failing_exercise_does_not_stop_the_others(tmp_path, capsys):
    root, environ = _project(tmp_path)
    assert doit_main(root, environ=environ) == 1  # every exercise: aa fails first (sorted)
    state = tmp_path / "state"
    assert (state / "bb-second.txt").is_file() and (state / "cc-second.txt").is_file()
    assert not (state / "aa-second.txt").exists()  # it needs aa:first, which failed
    out = capsys.readouterr().out
    assert "aa:first: the recipe failed (exit 3)" in out
    assert "1 failed" in out


def test_a_plain_failure_exits_1_even_with_blocked_tasks(tmp_path, capsys):
    root, environ = _project(tmp_path)
    assert doit_main(root, "aa", environ=environ) == 1  # aa:second is blocked, not an error


def test_a_run_that_succeeds_exits_0(tmp_path, capsys):
    root, environ = _project(tmp_path, bad="echo ok > {state}/aa-first.txt")
    assert doit_main(root, environ=environ) == 0
    assert doit_main(root, environ=environ) == 0  # a null build


def test_a_broken_exercise_does_not_stop_the_good_ones(tmp_path, capsys):
    root, environ = _project(tmp_path, bad="echo ok > {state}/aa-first.txt")
    (root / "exercises/aa/exercise.yml").write_text("doc: broken\nsteps:\n  x: {nosuch: 1}\n")
    assert doit_main(root, environ=environ) == 1
    assert (tmp_path / "state/bb-second.txt").is_file()
    assert (tmp_path / "state/cc-second.txt").is_file()
