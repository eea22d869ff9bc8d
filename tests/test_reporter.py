"""The reporter: the summary line, services removed at the end (newest first, also after a
failure), the interrupt line, failures noted for `why`."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

from doit.exceptions import TaskFailed

from tasks import process
from tasks.kinds.actions import action
from tasks.reporter import Reporter


def task(name: str, ends: list | None = None) -> SimpleNamespace:
    return SimpleNamespace(name=name, actions=[object()], meta={"ac295_end": ends} if ends
                           else {}, title=lambda: name, executed=True, verbosity=2)


def test_the_summary_counts_what_ran_was_fresh_and_failed(tmp_path):
    out = io.StringIO()
    reporter = Reporter(out, {}, tmp_path / "failed.json")
    for name in ("ex:a", "ex:b"):
        reporter.execute_task(task(name))
        reporter.add_success(task(name))
    reporter.skip_uptodate(task("ex:c"))
    reporter.execute_task(task("ex:d"))
    reporter.add_failure(task("ex:d"), TaskFailed("it broke"))
    reporter.complete_run()
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("ac295: 2 ran, 1 up to date, 1 failed in ")
    assert json.loads((tmp_path / "failed.json").read_text()) == {"ex:d": "it broke"}
    again = Reporter(io.StringIO(), {}, tmp_path / "failed.json")
    again.execute_task(task("ex:d"))
    again.add_success(task("ex:d"))
    again.complete_run()
    assert json.loads((tmp_path / "failed.json").read_text()) == {}


def test_services_are_removed_at_the_end_newest_first(tmp_path):
    removed: list[str] = []
    reporter = Reporter(io.StringIO(), {})
    for name in ("ex:net", "ex:db", "ex:web"):
        reporter.execute_task(task(name, [action(removed.append, name)]))
    reporter.add_failure(task("ex:web"), TaskFailed("not ready"))
    reporter.complete_run()
    assert removed == ["ex:web", "ex:db", "ex:net"]


def test_an_interrupt_is_one_line_naming_what_was_stopped(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(process, "_signals", ["SIGTERM"])
    monkeypatch.setattr(process, "_said", [])
    reporter = Reporter(io.StringIO(), {})
    reporter.execute_task(task("ex:image"))
    reporter.complete_run()
    assert capsys.readouterr().err == (
        "ac295: stopped by SIGTERM while ex:image ran; ex:image will run again next time; "
        "the tasks that finished are saved.\n")
    assert process._said == [True]


# --- the summary's counts are the lines printed --------------------------------------------

COUNTS = """\
doc: a failure, what needs it, and what does not
steps:
  made:
    sh: echo a > {state}/a.txt
    targets: ["{state}/a.txt"]
  broken:
    sh: "false"
    deps: ["{state}/a.txt"]
    targets: ["{state}/b.txt"]
  after-it:
    sh: echo after
    after: [broken]
  reads-it:
    sh: cat {state}/b.txt
    deps: ["{state}/b.txt"]
  apart:
    sh: echo apart
"""


def _lines(out: str) -> dict[str, list[str]]:
    import re
    return {"ran": re.findall(r"^\.  (\S+)$", out, re.M),
            "fresh": re.findall(r"^-- (\S+)$", out, re.M),
            "failed": re.findall(r"^TaskFailed - taskid:(\S+)$", out, re.M),
            "not run": re.findall(r"^not run: (\S+) \(it needs ex:\S+, which did not "
                                  r"succeed\)$", out,
                                  re.M),
            "ignored": re.findall(r"^!! (\S+)$", out, re.M)}


def test_the_summary_counts_the_lines_above_it(tmp_path, capsys):
    from helpers import doit_main, write_project
    root = write_project(tmp_path / "p", {"exercises/ex/exercise.yml": COUNTS})
    env = {"AC295_STATE_DIR": str(tmp_path / "state")}
    doit_main(root, "ex:made", environ=env)
    capsys.readouterr()
    assert doit_main(root, "ex", environ=env) == 1  # a step failed; the others went on
    out = capsys.readouterr().out
    lines = _lines(out)
    assert lines == {"ran": ["ex:broken", "ex:apart"], "fresh": ["ex:made"],
                     "failed": ["ex:broken"], "not run": ["ex:after-it", "ex:reads-it"],
                     "ignored": []}  # the exercise itself adds no line; "apart" still ran
    assert out.splitlines()[-1].startswith(
        "ac295: 1 ran, 1 up to date, 1 failed, 2 not run (a task they need failed) in ")
    notes = json.loads((tmp_path / "state" / "failed.json").read_text())
    assert list(notes) == ["ex:broken"]  # what did not run did not fail
    doit_main(root, "ignore", "ex:apart", environ=env)
    capsys.readouterr()
    doit_main(root, "ex:apart", "ex:made", environ=env)
    out = capsys.readouterr().out
    assert _lines(out)["ignored"] == ["ex:apart"] and _lines(out)["fresh"] == ["ex:made"]
    assert out.splitlines()[-1].startswith("ac295: 0 ran, 1 up to date, 0 failed, 1 ignored")
