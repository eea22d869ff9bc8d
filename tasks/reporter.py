"""What a person sees of a run, and what a run does when it ends, whatever ends it.

doit's console reporter runs in doit's main process, and doit calls its ``complete_run`` when
the run ends: after success, after a failed task, and after Ctrl-C or SIGTERM (from doit's
``finally``). That is the one place that sees the whole run whatever ``-n`` and ``-P`` say,
so this project's reporter, on top of doit's output:

- removes the services and networks the run started (each such task carries its end action
  in ``meta["ac295_end"]``), last started first. doit's own ``teardown`` would run in the
  worker process that started a service, as soon as that worker has nothing left to do,
  while another worker may still be using the service;
- says an interrupt in one line: what was stopped and what runs again next time;
- ends with a one-line summary whose counts are the lines above it: each ``.`` task ran or
  failed, each ``--`` was up to date, each ``not run:`` line names a task that could not run
  because a task it needs failed (doit's raw ``UnmetDependency`` block, said plainly), each
  ``!!`` was ignored; and how long the run took. A group task (an
  exercise) adds no line of its own: its steps say it;
- notes the tasks that failed (``failed.json`` beside doit's database), so that ``why``,
  ``status`` and ``graph`` can say "it failed last time".
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from doit.exceptions import TaskError, UnmetDependency
from doit.reporter import ConsoleReporter

from . import process
from .atomic import write_text


class Reporter(ConsoleReporter):
    """doit's ``ConsoleReporter`` with end-of-run clean-up, interrupts and a summary line."""

    desc = "console output, clean-up of services at the end, and a summary"

    def __init__(self, outstream: Any, options: dict[str, Any],
                 failures: Path | None = None) -> None:
        super().__init__(outstream, options)
        self.started = time.monotonic()
        self.running: dict[str, Any] = {}
        self.ending: list[Any] = []
        self.ran = self.fresh = self.failed = self.blocked = self.ignored = 0
        self.failures_file = failures
        self.outcomes: dict[str, str | None] = {}  # task -> failure, None: nothing to note
        self.not_run: list[tuple[str, str]] = []  # (task, the failed tasks it needs)
        #: errors other than "a task it needs failed" (doit's exit 2 means one of these)
        self.errors = 0

    def execute_task(self, task: Any) -> None:
        super().execute_task(task)
        if task.actions:
            self.running[task.name] = task
        if (task.meta or {}).get("ac295_end"):
            self.ending.append(task)

    def add_success(self, task: Any) -> None:
        super().add_success(task)
        if self.running.pop(task.name, None) is not None:
            self.ran += 1
            self.outcomes[task.name] = None

    def add_failure(self, task: Any, fail: Any) -> None:
        if isinstance(fail, TaskError) and not isinstance(fail, UnmetDependency):
            self.errors += 1
        started = self.running.pop(task.name, None) is not None
        if not task.actions:
            return  # an exercise whose steps failed: they said so, each on its line
        if not started and isinstance(fail, UnmetDependency):
            self.blocked += 1  # it did not fail: it did not run (`why` names the one that did)
            self.outcomes[task.name] = None
            self.not_run.append((task.name, ", ".join(fail.get_msg().split())))
            return  # said in one plain line at the end, not in doit's failure block
        self.failed += 1
        self.outcomes[task.name] = fail.get_msg().strip()
        super().add_failure(task, fail)

    def skip_uptodate(self, task: Any) -> None:
        if task.actions:
            super().skip_uptodate(task)
            self.fresh += 1

    def skip_ignore(self, task: Any) -> None:
        if task.actions:
            super().skip_ignore(task)
            self.ignored += 1

    def complete_run(self) -> None:
        self._end()
        self._note_failures()
        super().complete_run()
        for name, needs in self.not_run:
            self.write(f"not run: {name} (it needs {needs}, which did not succeed)\n")
        signal_name = process.interrupted()
        if signal_name:
            stopped = sorted(self.running)
            what = (f" while {', '.join(stopped)} ran; {', '.join(stopped)} will run again "
                    "next time" if stopped else "")
            sys.stderr.write(f"ac295: stopped by {signal_name}{what}; the tasks that finished "
                             "are saved.\n")
            sys.stderr.flush()
            process.said_interrupt()
            return
        seconds = time.monotonic() - self.started
        counts = [f"{self.ran} ran", f"{self.fresh} up to date", f"{self.failed} failed"]
        if self.blocked:
            counts.append(f"{self.blocked} not run (a task they need failed)")
        if self.ignored:
            counts.append(f"{self.ignored} ignored")
        self.write(f"ac295: {', '.join(counts)} in {seconds:.1f} s\n")

    def _note_failures(self) -> None:
        if self.failures_file is None or not self.outcomes:
            return
        try:
            noted = json.loads(self.failures_file.read_text())
        except (OSError, ValueError):
            noted = {}
        for name, message in self.outcomes.items():
            if message is None:
                noted.pop(name, None)
            else:
                noted[name] = message
        try:
            write_text(self.failures_file, json.dumps(noted, indent=1, sort_keys=True) + "\n")
        except OSError:
            pass  # a note for `why`; the run's own result stands

    def _end(self) -> None:
        """Run the end actions of the services and networks that started, newest first."""
        for task in reversed(self.ending):
            for function, args in task.meta["ac295_end"]:
                try:
                    result = function(*args)
                except KeyboardInterrupt:
                    continue  # a second Ctrl-C: go on removing the rest
                message = getattr(result, "message", None)
                if message:
                    sys.stderr.write(f"ac295: {task.name} could not be removed: {message}\n")
        self.ending = []
