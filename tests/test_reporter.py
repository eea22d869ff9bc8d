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
