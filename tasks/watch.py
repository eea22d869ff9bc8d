"""``doit watch [TASK|EXERCISE ...]``: run, then run again what a save touches, until Ctrl-C.

A resident process, so that a student's edit-and-rerun loop pays only for what changed:

- It runs the selected tasks once (default: every exercise), as ``doit`` does, then waits for
  file events under ``exercises/`` (watchfiles: inotify, no polling) and for ``ac295.yml``.
  A burst of saves is one cycle (debounced); editors' swap and temporary files, caches, the
  state folder and what the graph writes itself start none (``tasks.warm``).
- A cycle runs the tasks that read a saved file and what is downstream of them, through
  doit, with the same up-to-date checks, output and one-line summary as a run.
- An exercise.yml, ac295.yml or Dockerfile edit reloads the graph (unchanged specs come from
  the parse cache); the steps whose keys changed run. A broken spec is said in one paragraph
  and its exercise waits until it is fixed; the others are watched on.
- Services and networks stay up across cycles, and restart only when their image, their
  config or a service they follow changed, or when they died: a student on demo 2 keeps the
  database running while editing the server. Everything is removed on exit.
- What one-shot runs rebuild every time is kept: the engine's client and connection, the
  parsed specs and the graph, the doit tasks' edges, context selections, file digests.
- Ctrl-C or SIGTERM ends it in one line, with 130 or 143, leaving nothing running (the
  local registry too, when this process started it).

It holds the run lock while it runs, as a run does: another run in the same copy waits.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from doit.cmd_base import DoitCmdBase
from doit.control import TaskControl
from doit.dependency import Dependency
from doit.exceptions import InvalidCommand
from doit.globals import Globals
from doit.loader import generate_tasks
from doit.task import Stream

from . import process, project, warm
from .digests import file_sha256, json_digest
from .engine import live
from .engine.client import Engine
from .errors import Ac295Error
from .graph.compile import step_config
from .graph.explain import failed_path
from .keep_blocked import KeepBlockedRunner
from .kinds import KINDS
from .reporter import Reporter

#: After the first event, more events are gathered until none came for this long (ms).
QUIET_MS = 50
#: How often the wait wakes up to look at ac295.yml, which lives outside exercises/ (ms).
WAKE_MS = 400


class Watch(DoitCmdBase):
    """``doit watch [TASK|EXERCISE ...]``: run, then rerun on every save, until Ctrl-C."""

    doc_purpose = ("run the tasks, then again on every save of a file they read, until Ctrl-C "
                   "(services stay up between runs)")
    doc_usage = "[TASK|EXERCISE ...]"
    doc_description = None
    execute_tasks = True
    cmd_options = ()

    def _execute(self, pos_args: list[str] | None = None, dep_file: str = "",
                 backend: str = "sqlite3", codec_cls: Any = "json",
                 check_file_uptodate: Any = "md5") -> int:
        self.dep_manager.close()  # each cycle opens its own: doit saves when a run ends
        namespace = getattr(self.loader, "namespace", None) or {}
        root = Path(namespace.get("__file__") or "dodo.py").resolve().parent
        db = Database(self._backends[backend], dep_file, self.get_checker_cls(
            check_file_uptodate), self.get_codec_cls(codec_cls))
        return Session(root, list(pos_args or []), db, self.outstream).run()


@dataclass(frozen=True)
class Database:
    """How to open doit's database, as the command line and DOIT_CONFIG say."""

    backend: Any
    path: str
    checker: Any
    codec: Any

    def open(self) -> Dependency:
        return Dependency(self.backend, self.path, checker_cls=self.checker,
                          codec_cls=self.codec)


@dataclass
class Kept:
    """A service or network left up between cycles.

    Attributes:
        identity: what it was started from (its step's config, the files it reads, the
            generations of the kept tasks it follows): a change restarts it.
        generation: when it started, counted in starts; what follows it notes this.
        end: its end actions (the task's ``meta["ac295_end"]``).
    """

    identity: str
    generation: int
    end: list[Any]


class KeptCheck:
    """The up-to-date check of a service or network while watching: up while it is."""

    def __init__(self, session: "Session", name: str) -> None:
        self.session = session
        self.name = name

    def __call__(self) -> bool:
        return self.session.still_up(self.name)

    def __repr__(self) -> str:
        return "still up, from the same image and config (doit watch)"


class WatchReporter(Reporter):
    """The run's reporter, but a cycle's services and networks are handed to the session
    (kept up) rather than removed, and an interrupt is said once, by the session."""

    def __init__(self, outstream: Any, failures: Path | None, session: "Session") -> None:
        super().__init__(outstream, {}, failures)
        self.session = session

    def execute_task(self, task: Any) -> None:
        super().execute_task(task)
        if task.name in self.session.live:  # it restarts: the old one goes first
            self.session.retire(task.name)

    def _end(self) -> None:
        for task in self.ending:
            ok = self.outcomes.get(task.name, "") is None and task.name not in self.running
            self.session.adopt(task.name, task.meta["ac295_end"], ok)
        self.ending = []

    def complete_run(self) -> None:
        if process.interrupted():
            self.session.stopped_while = sorted(self.running)
            self._end()
            self._note_failures()
            return
        super().complete_run()


class Session:
    """One ``doit watch``: the graph it keeps, the services it keeps up, and its loop."""

    def __init__(self, root: Path, requested: list[str], db: Database, out: Any,
                 events: Callable[["Session"], Iterator[dict[Path, int]]] | None = None
                 ) -> None:
        self.root = root
        self.requested = requested
        self.db = db
        self.out = out
        self.events = events or watch_events
        self.engine = Engine()  # one client and connection for the whole session
        self.graph: project.Graph | None = None
        self.index: warm.Index | None = None
        self.edges: warm.Edges | None = None
        self.configs: dict[str, Any] = {}
        self.dicts: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, Any] = {}
        self.watched: set[str] = set()
        self.said_broken: dict[str, str] = {}
        self.project_error = ""
        self.live: dict[str, Kept] = {}
        self.generation = 0
        self.stopped_while: list[str] = []
        self.registry_was_up = True

    # --- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        """Run, watch, rerun; return the exit code (130 or 143 after Ctrl-C or SIGTERM)."""
        try:
            self.load()
            if self.graph is None:
                raise InvalidCommand(self.project_error)
            unknown = [n for n in self.requested if n not in self.dicts
                       and n not in self.graph.broken]
            if unknown:
                raise InvalidCommand(f"no task {', '.join(unknown)}; `doit list --all` "
                                     "lists them.")
            local = self.graph.runtime.local_registry
            self.registry_was_up = local is None or local.running()
            events = self.events(self)
            next(events)  # watching from now on: a save during the first run is not lost
            first = [n for n in self.selection() if n in self.dicts]
            if first:
                self.cycle(first)
            self.say(f"watching {len(self.watched)} task(s) and the files they read under "
                     "exercises/ (and ac295.yml); save a file to run what reads it, Ctrl-C "
                     "to stop")
            for batch in events:
                self.on_change(batch)
        except KeyboardInterrupt:
            return self.stop()
        return self.stop()

    def on_change(self, batch: dict[Path, int]) -> None:
        """One batch of events: reload if a spec changed, then run what the files touch."""
        assert self.index is not None
        relevant = {p: c for p, c in batch.items() if self.index.relevant(p)}  # {}: a wake
        if not relevant:
            return
        touched: set[str] = set()
        reloads = self.index.reload(relevant) if not self.project_error else list(relevant)
        if reloads:
            before = self.configs
            self.load()
            if self.project_error or self.graph is None or self.index is None:
                return  # said once; nothing runs until the project loads again
            touched |= warm.changed_steps(before, self.configs)
            if self.root / "ac295.yml" in reloads:
                touched |= self.watched
        resel = any(c != MODIFIED for c in relevant.values())
        touched |= self.index.readers(relevant, resel)
        assert self.edges is not None and self.graph is not None
        chosen = self.edges.downstream(touched, self.watched) & self.edges.actions
        chosen -= set(self.graph.broken)
        if not chosen:
            return
        shown = sorted(str(p.relative_to(self.root)) if self.root in p.parents else str(p)
                       for p in relevant)
        self.say(f"{', '.join(shown[:3])}{' and more' if len(shown) > 3 else ''} changed")
        self.cycle(sorted(chosen))

    def selection(self) -> list[str]:
        """What the user asked to watch (default: every exercise), broken ones left out."""
        assert self.graph is not None
        asked = self.requested or list(self.graph.doit_config["default_tasks"])
        return [n for n in asked if n not in self.graph.broken]

    # --- loading ------------------------------------------------------------------------

    def load(self) -> None:
        """(Re)load the graph: the same as a run's load, with the session's engine."""
        from doit import get_var

        try:
            graph = project.load_graph(self.root, cmdline_vars=get_var, engine=self.engine)
        except Ac295Error as err:
            if str(err) != self.project_error:
                self.say(f"{err} (watching goes on: fix it and save)")
            self.project_error = str(err)
            return
        if self.project_error:
            self.say("the project loads again")
        self.project_error = ""
        self.graph = graph
        self.dicts = {_name(d): d for d in graph.tasks}
        self.steps = {s.task: s for e in graph.exercises for s in e.steps.values()}
        control = TaskControl(self.doit_tasks(kept=False))
        self.edges = warm.Edges.of(control.tasks.values())
        self.index = warm.Index.of(graph, KINDS, control.tasks.values())
        self.configs = warm.step_configs(graph, KINDS)
        self.watched = self.edges.watched(self.selection())
        for name, error in sorted(graph.broken.items()):
            if self.said_broken.get(name) != str(error):
                self.say(f"{name} is not run until its spec is fixed: {error}")
        for name in sorted(set(self.said_broken) - set(graph.broken)):
            self.say(f"{name} loads again")
        self.said_broken = {n: str(e) for n, e in graph.broken.items()}
        for name in [n for n in reversed(self.live) if n not in self.dicts
                     or n not in self.watched]:
            self.retire(name)  # its step is gone, or its exercise broke: newest first

    def doit_tasks(self, kept: bool = True) -> list[Any]:
        """doit Task objects made afresh from the kept task dicts (doit changes both as it
        runs); with ``kept``, services and networks are up to date while they are up."""
        assert self.graph is not None

        def copies() -> Iterator[dict[str, Any]]:
            for task in self.graph.tasks if self.graph else ():
                copy = dict(task)
                if kept and (copy.get("meta") or {}).get("ac295_end"):
                    copy["uptodate"] = [KeptCheck(self, _name(task))]
                yield copy

        return list(generate_tasks("ac295", copies(), "the exercises' steps"))

    # --- a cycle ------------------------------------------------------------------------

    def cycle(self, selection: list[str]) -> None:
        """Run ``selection`` through doit as a run does: checks, output, the summary line."""
        assert self.graph is not None
        self.engine.forget_lookups()  # names may point elsewhere now (docker rmi, tag)
        control = TaskControl(self.doit_tasks())
        control.process(selection)
        dep_manager = self.db.open()
        Globals.dep_manager = dep_manager
        reporter = WatchReporter(self.out, failed_path(Path(self.db.path)), self)
        # as a run: one exercise that fails does not stop the others' steps
        runner = KeepBlockedRunner(dep_manager, reporter, continue_=True,
                                   always_execute=False, stream=Stream(2))
        runner.run_all(control.task_dispatcher())

    # --- services kept up ---------------------------------------------------------------

    def identity(self, name: str) -> str:
        """What a service or network was started from: its step's config, the bytes of the
        files it reads (its image's record), and the kept tasks it follows."""
        assert self.graph is not None and self.edges is not None
        step = self.steps.get(name)
        cfg = self.graph.config
        files: dict[str, str | None] = {}
        for dep in sorted(self.dicts.get(name, {}).get("file_dep", [])):
            try:
                files[dep] = file_sha256(Path(dep))
            except OSError:
                files[dep] = None
        follows = {n: self.live[n].generation for n in self.edges.needs.get(name, [])
                   if n in self.live}
        config = step_config(step, cfg.root, cfg.registry) if step is not None else None
        return json_digest({"config": config, "files": files, "follows": follows})

    def still_up(self, name: str) -> bool:
        """True if a kept service or network is up, from what it would start from now."""
        kept = self.live.get(name)
        if kept is None or kept.identity != self.identity(name):
            return False
        try:
            return live.running(self.engine, name)
        except Ac295Error:
            return False

    def adopt(self, name: str, end: list[Any], ok: bool) -> None:
        """A cycle started ``name``: keep it up if it started well, else remove it now."""
        if not ok:
            _run_end(name, end, self.out)
            return
        self.generation += 1
        self.live.pop(name, None)
        self.live[name] = Kept(self.identity(name), self.generation, end)

    def retire(self, name: str) -> None:
        """Remove a kept service or network (it restarts, or its step is gone)."""
        kept = self.live.pop(name, None)
        if kept is not None:
            _run_end(name, kept.end, self.out)

    # --- the end ------------------------------------------------------------------------

    def stop(self) -> int:
        """Remove everything kept up, newest first; say so in one line; the exit code."""
        signal_name = process.interrupted() or "SIGINT"
        removed = list(reversed(self.live))
        with contextlib.redirect_stdout(io.StringIO()):  # one line, not one per service
            for name in removed:
                try:
                    self.retire(name)
                except KeyboardInterrupt:
                    continue  # a second Ctrl-C: go on removing the rest
        gone = list(removed)
        if self.graph is not None and not self.registry_was_up:
            local = self.graph.runtime.local_registry
            if local is not None and local.running():
                local.stop(lambda line: None)
                gone.append("the local registry it started")
        what = f"; removed {', '.join(gone)}" if gone else ""
        running = (f" while {', '.join(self.stopped_while)} ran (they run again next time)"
                   if self.stopped_while else "")
        self.out.flush()
        sys.stderr.write(f"ac295: watch stopped by {signal_name}{running}{what}.\n")
        sys.stderr.flush()
        process.said_interrupt()
        return process.EXIT_CODES.get(signal_name, 130)

    def say(self, text: str) -> None:
        self.out.write(f"ac295: {text}\n")
        self.out.flush()


#: watchfiles' change codes (``watchfiles.Change``), without importing it here.
ADDED, MODIFIED, DELETED = 1, 2, 3


def watch_events(session: Session) -> Iterator[dict[Path, int]]:
    """Batches of changed paths (path -> ADDED, MODIFIED or DELETED), one per burst of saves,
    and an empty one first, once the watching has started (and whenever ``WAKE_MS`` passed
    without a change).

    ``exercises/`` is watched through inotify (watchfiles); ``ac295.yml``, beside it at the
    top of the project, is looked at every ``WAKE_MS`` (a stat), so that the project's
    folders with environments and caches are never watched.
    """
    from watchfiles import watch

    assert session.index is not None
    config = session.root / "ac295.yml"
    seen = _stat(config)
    roots = [str(p) for p in session.index.watch_roots() if p.is_dir()]
    for changes in watch(*roots, watch_filter=None, debounce=1600, step=QUIET_MS,
                         rust_timeout=WAKE_MS, yield_on_timeout=True, raise_interrupt=True):
        batch = {warm.watchable(path): int(change) for change, path in changes}
        now = _stat(config)
        if now != seen:
            batch[config] = MODIFIED
            seen = now
        yield batch


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _run_end(name: str, end: list[Any], out: Any) -> None:
    for function, args in end:
        try:
            result = function(*args)
        except KeyboardInterrupt:
            continue
        message = getattr(result, "message", None)
        if message:
            out.write(f"ac295: {name} could not be removed: {message}\n")


def _name(task: dict[str, Any]) -> str:
    base, name = task.get("basename", ""), task.get("name")
    return f"{base}:{name}" if name else str(base)


__all__ = ["Session", "Watch", "watch_events"]
