"""`why`, `status` and `list --status` on real doit: statuses read now, reasons once and true.

The projects here are recipes only (no engine), run by doit in this process; the expected
letters and reasons are written by hand from what the edit does.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import doit_main, write_project
from tasks.graph import explain

#: a recipe makes a file, a second one reads it and makes another; a third reads a source
CHAIN = """\
doc: a chain of recipes
steps:
  made:
    sh: cp in.txt {state}/made.txt
    deps: [in.txt]
    targets: ["{state}/made.txt"]
  used:
    sh: cp {state}/made.txt {state}/used.txt
    deps: ["{state}/made.txt"]
    targets: ["{state}/used.txt"]
  other:
    sh: cp notes.txt {state}/other.txt
    deps: [notes.txt]
    targets: ["{state}/other.txt"]
"""


@pytest.fixture
def chain(tmp_path) -> tuple[Path, dict[str, str]]:
    root = write_project(tmp_path / "p", {"exercises/ex/exercise.yml": CHAIN,
                                          "exercises/ex/in.txt": "one\n",
                                          "exercises/ex/notes.txt": "notes\n"})
    return root, {"AC295_STATE_DIR": str(root / "state")}


def run(root: Path, environ: dict[str, str], capsys, *args: str) -> tuple[int, str]:
    code = doit_main(root, *args, environ=environ)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def why(root: Path, environ: dict[str, str], capsys, *names: str) -> dict[str, str]:
    _, out = run(root, environ, capsys, "why", *names)
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S+)\s+(.*)$", out, re.M)}


def letters(root: Path, environ: dict[str, str], capsys, *args: str) -> dict[str, str]:
    """The letters of `status` (no args) or `list --all --status`, by task."""
    _, out = run(root, environ, capsys, *args)
    return {m.group(2): m.group(1) for m in re.finditer(r"^([RU~AIE]) (\S+)", out, re.M)}


def test_an_input_an_upstream_step_remakes_is_may_everywhere(chain, capsys):
    root, env = chain
    assert run(root, env, capsys, "ex")[0] == 0
    (root / "state" / "made.txt").unlink()  # as `doit clean ex:made` would
    status = letters(root, env, capsys, "status")
    listed = letters(root, env, capsys, "list", "--all", "--status")
    assert status == {"ex:made": "R", "ex:used": "~", "ex:other": "U"}
    assert {t: listed[t] for t in status} == status  # doit's own list said E for ex:used
    said = why(root, env, capsys, "ex")
    assert said["ex:made"] == "will run: its result state/made.txt is missing"
    assert said["ex:used"] == ("may run: the result of ex:made is missing, but ex:made runs "
                               "first and may make it again as it was")
    code, out = run(root, env, capsys, "ex")
    assert code == 0
    assert re.findall(r"^(\.  |-- )(\S+)$", out, re.M) == [
        (".  ", "ex:made"), ("-- ", "ex:used"), ("-- ", "ex:other")]  # the ~ did not run


def test_an_input_that_changed_is_a_sure_run_with_the_right_words(chain, capsys):
    root, env = chain
    run(root, env, capsys, "ex")
    (root / "exercises/ex/in.txt").write_text("two\n")
    said = why(root, env, capsys, "ex")
    assert said["ex:made"] == "will run: exercises/ex/in.txt changed"
    assert said["ex:used"] == "may run: only if ex:made makes a different result"
    assert said["ex:other"].startswith("up to date")
    (root / "exercises/ex/notes.txt").write_text("notes\n")  # rewritten, same content
    assert why(root, env, capsys, "ex:other")["ex:other"].startswith("up to date")


def test_a_result_that_changed_already_says_so_once(chain, capsys):
    root, env = chain
    run(root, env, capsys, "ex")
    (root / "exercises/ex/in.txt").write_text("two\n")
    run(root, env, capsys, "ex:made")  # only the maker runs
    said = why(root, env, capsys, "ex")
    assert said["ex:made"].startswith("up to date")
    assert said["ex:used"] == "will run: the result of ex:made changed"
    assert letters(root, env, capsys, "status")["ex:used"] == "R"


def test_never_run_and_failed_say_so_and_nothing_untrue(chain, capsys):
    root, env = chain
    said = why(root, env, capsys, "ex")
    assert said["ex:made"] == "will run: it has not run here yet"
    assert "changed" not in said["ex:used"]  # doit lists every dep of a new task as changed
    spec = root / "exercises/ex/exercise.yml"
    spec.write_text(CHAIN.replace("cp in.txt", "false && cp in.txt"))
    assert run(root, env, capsys, "ex")[0] == 1
    said = why(root, env, capsys, "ex")
    assert said["ex:made"] == ("will run: failed last time: ex:made: the recipe failed "
                               "(exit 1): false && cp in.txt "
                               f"{root / 'state'}/made.txt (it printed nothing)")
    spec.write_text(CHAIN)
    assert run(root, env, capsys, "ex")[0] == 0
    assert "failed" not in why(root, env, capsys, "ex")["ex:made"]


def test_a_changed_key_is_said_once_even_with_upstream_moving(chain, capsys):
    root, env = chain
    run(root, env, capsys, "ex")
    (root / "exercises/ex/in.txt").write_text("two\n")
    spec = root / "exercises/ex/exercise.yml"
    spec.write_text(CHAIN.replace("cp {state}/made.txt {state}/used.txt",
                                  "cat {state}/made.txt > {state}/used.txt"))
    said = why(root, env, capsys, "ex:used")
    assert said["ex:used"] == "will run: its 'commands' changed in exercise.yml"


def test_why_on_a_broken_exercise_says_its_current_error(tmp_path, capsys):
    root = write_project(tmp_path / "p", {
        "exercises/bx/exercise.yml": "doc: d\nsteps:\n  s: {sh: 'true', tagg: 1}\n"})
    env = {"AC295_STATE_DIR": str(tmp_path / "state")}
    assert run(root, env, capsys, "bx")[0] == 1  # noted as failed with the first error
    (root / "exercises/bx/exercise.yml").write_text(
        "doc: d\nsteps:\n  s: {sh: 'true', timeout: 3}\n")
    said = why(root, env, capsys, "bx")["bx"]
    assert said.startswith("will run: broken: ") and "unknown key 'timeout'" in said
    assert "tagg" not in said and "False" not in said
    assert letters(root, env, capsys, "status") == {"bx": "R"}


def test_a_setup_task_follows_the_steps_that_need_it():
    """The local registry's start runs only for a push or pull that runs (doit's setup)."""
    class Fake:
        def __init__(self, name, setup=(), actions=True):
            self.name, self.setup_tasks, self.task_dep = name, list(setup), []
            self.file_dep, self.targets, self.meta = set(), [], {}
            self.actions, self.uptodate = ([object()] if actions else []), []

    tasks = {"registry_start": Fake("registry_start"), "ex:push": Fake("ex:push", ["registry_start"])}
    found = {"registry_start": explain.Status("registry_start", "run", ["not running"]),
             "ex:push": explain.Status("ex:push", "fresh", ["served"])}
    explain._setups_follow_their_users(tasks, found, {"ex"}, {})
    assert found["registry_start"].state == "fresh"
    found["ex:push"].state = "run"
    found["registry_start"].state = "run"
    explain._setups_follow_their_users(tasks, found, {"registry_start"}, {})
    assert found["registry_start"].state == "run"  # asked for by name: its own status


def test_reasons_are_given_once():
    assert explain._once(["a changed", "b", "a changed"]) == ["a changed", "b"]
    assert explain.failure_reason("\nfirst line\nsecond") == "failed last time: first line"


def test_list_with_status_ends_quietly_when_its_reader_stops(tmp_path):
    """`doit list | head`: no BrokenPipeError traceback (a real pipe, a real process)."""
    import subprocess

    from helpers import ROOT
    root = write_project(tmp_path / "p", {
        f"exercises/e{n:03d}/exercise.yml": f"doc: exercise {n}\nsteps:\n  s: {{sh: 'true'}}\n"
        for n in range(400)})
    for name in ("dodo.py", "pyproject.toml", "tasks"):
        (root / name).symlink_to(ROOT / name)
    env = {"PATH": "/usr/bin:/bin", "AC295_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(f"{ROOT}/.venv/bin/doit list --all | head -2", shell=True, cwd=root,
                          capture_output=True, text=True, env=env, timeout=120)
    assert len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_a_file_a_check_names_already_is_not_said_twice():
    """A venv step's check says "requirements.txt changed"; doit lists the file too."""
    from types import SimpleNamespace

    from tasks.kinds.actions import Check, stale
    check = Check("spec", lambda: stale("requirements.txt changed"))
    check()
    result = SimpleNamespace(reasons={
        "uptodate_false": [(check, (), {})],
        "changed_file_dep": ["/p/exercises/venv/requirements.txt", "/p/exercises/venv/x.py"]})
    sure, unsure = explain._reasons(None, result, {}, set(), True)
    assert sure == ["requirements.txt changed", "/p/exercises/venv/x.py changed"]
    assert unsure == []


def test_the_registry_start_says_the_registry_is_not_running(tmp_path):
    from helpers import load_config
    from tasks.kinds.runtime import Runtime
    from tasks.toplevel import registry_running
    root = write_project(tmp_path / "p", {}, "variables:\n  registry: 127.0.0.1:1\n")
    verdict = registry_running(Runtime(load_config(root, {"AC295_STATE_DIR": str(tmp_path)})))
    assert (verdict.fresh, verdict.reason) == (False, "the local registry is not running")


def test_an_unknown_task_gets_a_suggestion(chain, capsys):
    root, env = chain
    code, out = run(root, env, capsys, "why", "ex:mdae")
    assert code == 3 and "no task ex:mdae; did you mean ex:made?" in out
    assert "Traceback" not in out
