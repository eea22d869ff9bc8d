"""Statuses and their reasons, worked out in the graph's order, on doit's own Task objects and
a dep manager that answers from a table: the expected statuses and lines are literals."""
from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from doit.task import Task

from tasks.graph import explain
from tasks.graph.explain import Status, StepConfig
from tasks.kinds.actions import Always, Check, Verdict


def task(name: str, *, file_dep=(), targets=(), task_dep=(), setup=(), uptodate=(),
         actions=("true",), meta=None, doc="") -> Task:
    return Task(name, list(actions), file_dep=list(file_dep), targets=list(targets),
                task_dep=list(task_dep), setup=list(setup), uptodate=list(uptodate),
                meta=meta, doc=doc)


class Manager:
    """doit's dep manager, answering each task's status from a table (default up to date)."""

    def __init__(self, answers: dict[str, tuple[str, dict[str, Any]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def _get(self, name: str, key: str) -> Any:
        """What doit saved of a task ("checker:" once it has run): every task here has run."""
        return "ran" if key == "checker:" else None

    def get_status(self, task: Task, tasks: dict, get_log: bool = False) -> Any:
        assert get_log is True and tasks[task.name] is task  # doit needs the whole graph
        self.asked.append(task.name)
        status, reasons = self.answers.get(task.name, ("up-to-date", {}))
        return SimpleNamespace(status=status, reasons=reasons)


def graph(*tasks: Task) -> dict[str, Task]:
    return {t.name: t for t in tasks}


def checked(reason: str, fresh: bool = True) -> Check:
    check = Check("what", lambda: Verdict(fresh, reason))
    check()
    return check


def test_the_closure_lists_what_each_task_needs_first():
    tasks = graph(task("a", targets=["a.out"]), task("b", file_dep=["a.out", "x.in"]),
                  task("s"), task("c", task_dep=["b"], setup=["s"]), task("lonely"))
    assert explain.closure(tasks, ["c"]) == ["a", "b", "s", "c"]
    order = explain.closure(tasks, ["c", "a", "nosuch"])
    assert order.index("a") < order.index("b") < order.index("c")
    assert order.index("s") < order.index("c") and "lonely" not in order
    assert len(order) == len(set(order)) == 4


def test_a_task_that_will_run_names_its_reasons_in_the_projects_words():
    config = StepConfig({"tag": "me/app:2", "args": {}})
    config.changed = ["tag"]
    tasks = graph(task("a", targets=["/s/a.json"]), task("b", file_dep=["/s/a.json"]))
    reasons = {"uptodate_false": [(checked("Question.py changed (1 -> 2)", False), (), {}),
                                  (config, (), {}), ("a callable", (), {})],
               "changed_file_dep": ["/s/a.json", "/x/input.txt"],
               "missing_target": ["/s/b.json"],
               "missing_file_dep": ["/s/a.json", "/x/gone.txt"],
               "has_no_dependencies": True, "checker_changed": True}
    found = explain.statuses(tasks, Manager({"b": ("run", reasons)}), ["b"])
    assert found["b"].state == "run"
    assert found["b"].reasons == [
        "Question.py changed (1 -> 2)", "its 'tag' changed in exercise.yml", "'a callable'",
        "the result of a changed", "/x/input.txt changed", "the result of a is missing",
        "/x/gone.txt is missing", "its result /s/b.json is missing",
        "it has nothing to check: it runs whenever asked", "doit's file checker changed"]
    assert found["a"].state == "fresh"


def test_a_run_without_any_known_reason_says_doit_says_so():
    found = explain.statuses(graph(task("a")), Manager({"a": ("run", {})}), ["a"])
    assert (found["a"].state, found["a"].reasons) == ("run", ["doit says so"])


def test_downstream_of_a_task_that_runs_is_may_and_names_it():
    tasks = graph(task("base", targets=["/s/base.json"]),
                  task("image", targets=["/s/image.json"], file_dep=["/s/base.json"]),
                  task("check", file_dep=["/s/image.json"], setup=["registry"]),
                  task("registry"))
    found = explain.statuses(tasks, Manager({"base": ("run", {})}), ["check"])
    assert {n: s.state for n, s in found.items()} == {
        "base": "run", "image": "may", "registry": "fresh", "check": "may"}
    assert found["image"].reasons == ["only if base makes a different result"]
    assert found["check"].reasons == ["only if image makes a different result"]


def test_a_setup_task_follows_its_user_and_makes_no_result_for_it():
    # doit runs a setup task only for a task that runs; it makes no input of that task
    tasks = graph(task("registry"), task("push", setup=["registry"]))
    found = explain.statuses(tasks, Manager({"registry": ("run", {})}), ["push"])
    assert found["push"].state == "fresh"


def test_an_up_to_date_task_says_what_was_checked():
    tasks = graph(task("a", uptodate=[checked("inputs 1234 as recorded")]),
                  task("b"))
    found = explain.statuses(tasks, Manager({}), ["a", "b"])
    assert found["a"].reasons == ["inputs 1234 as recorded"]
    assert found["b"].reasons == ["its inputs are as recorded"]
    assert found["a"].state == found["b"].state == "fresh"


def test_an_ephemeral_task_is_always_with_its_why_and_a_group_is_fresh():
    tasks = graph(task("svc", uptodate=[Always("a service runs only while needed")]),
                  task("group", actions=(), task_dep=["svc"]))
    manager = Manager({"svc": ("run", {})})
    found = explain.statuses(tasks, manager, ["group"])
    assert (found["svc"].state, found["svc"].reasons) == (
        "always", ["a service runs only while needed"])
    assert (found["group"].state, found["group"].reasons) == ("fresh", [])
    assert manager.asked == []  # an always task and a group are not asked: both are known
    # an always task upstream does not make its user "may": it makes no result
    tasks = graph(task("svc", uptodate=[Always("x")]), task("probe", task_dep=["svc"]))
    assert explain.statuses(tasks, Manager({}), ["probe"])["probe"].state == "fresh"


def test_a_failure_of_the_last_run_is_kept_on_the_status():
    found = explain.statuses(graph(task("a")), Manager({}), ["a"],
                             {"a": "a: the build failed\nsecond line"})
    assert found["a"].failed == "a: the build failed\nsecond line"
    assert found["a"].line() == ("up to date: failed last time: a: the build failed; its "
                                 "inputs are as recorded")


@pytest.mark.parametrize("state, reasons, line", [
    ("run", ["x changed", "y is new"], "will run: x changed; y is new"),
    ("may", ["only if a makes a different result"],
     "may run: only if a makes a different result"),
    ("always", [], "runs every time"),
    ("fresh", [], "up to date"),
])
def test_a_status_line(state, reasons, line):
    assert Status("t", state, reasons).line() == line
    assert explain.MARK[state] == {"run": "R", "may": "~", "always": "A", "fresh": "U"}[state]


def test_failures_are_read_from_beside_doits_database(tmp_path):
    dep_file = tmp_path / "doit.sqlite"
    assert explain.failed_path(dep_file) == tmp_path / "failed.json"
    assert explain.failed_path(str(dep_file)) == tmp_path / "failed.json"
    assert explain.read_failures(dep_file) == {}
    (tmp_path / "failed.json").write_text(json.dumps({"a": "boom", "b": 3}))
    assert explain.read_failures(dep_file) == {"a": "boom", "b": "3"}
    (tmp_path / "failed.json").write_text("[1, 2]")
    assert explain.read_failures(dep_file) == {}
    (tmp_path / "failed.json").write_text("{not json")
    assert explain.read_failures(dep_file) == {}


def test_the_step_config_names_each_key_that_changed():
    check = StepConfig({"tag": "a", "args": {"X": "1"}, "same": 1})
    fake = SimpleNamespace(value_savers=[])
    check.configure_task(fake)
    assert check(fake, {}) is False  # never ran: doit saves the values after a success
    saved = fake.value_savers[0]()
    assert saved["_config"] == {"tag": "a", "args": {"X": "1"}, "same": 1}
    assert check(fake, saved) is True and check.changed == []
    other = StepConfig({"tag": "b", "args": {"X": "1"}, "same": 1, "new": 2})
    assert other(fake, saved) is False
    assert other.changed == ["new", "tag"]
    assert other.reason() == "its 'new', 'tag' changed in exercise.yml"
    assert other(fake, {}) is False and other.changed is None
    assert other.reason() == "its keys in exercise.yml were not recorded"  # maybe it failed
    assert repr(other) == "the step's keys in exercise.yml"


def test_a_step_config_made_later_is_made_once_only_when_asked():
    made = []
    check = StepConfig(lambda: made.append(1) or {"tag": "a"})
    assert made == []
    assert check.config == {"tag": "a"} and check.config == {"tag": "a"}
    assert made == [1]
    check.config = None  # doit sets it to None at times: keeps what was made
    assert check.config == {"tag": "a"}


def test_every_task_of_the_closure_gets_a_status_named_after_it():
    tasks = graph(task("svc", uptodate=[Always("x")]),
                  task("group", actions=(), task_dep=["svc"]), task("other"))
    found = explain.statuses(tasks, Manager({}), ["group", "other"])
    assert list(found) == ["svc", "group", "other"]  # a group task does not end the walk
    assert [s.task for s in found.values()] == ["svc", "group", "other"]
    assert [s.failed for s in found.values()] == ["", "", ""]  # none failed last time


def test_two_upstream_tasks_that_run_are_both_named():
    tasks = graph(task("a", targets=["/a"]), task("b", targets=["/b"]),
                  task("c", file_dep=["/a", "/b"]))
    found = explain.statuses(tasks, Manager({"a": ("run", {}), "b": ("run", {})}), ["c"])
    assert found["c"].reasons == ["only if a, b makes a different result"]


def test_an_up_to_date_task_names_its_checks_not_its_config():
    config = StepConfig({"tag": "a"})
    tasks = graph(task("a", uptodate=[config, checked("inputs as recorded")]))
    found = explain.statuses(tasks, Manager({}), ["a"])
    assert found["a"].reasons == ["inputs as recorded"]
