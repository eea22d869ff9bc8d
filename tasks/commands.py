"""The project's own doit commands: ``why``, ``status``, ``graph``, ``shell``, and doit's
``list``.

They are doit plugin commands (declared in pyproject.toml, ``[tool.doit.plugins.command]``),
so they load the same tasks as ``doit run`` and read doit's database, but run no task and
write nothing to it. Their up-to-date checks ask the engine and the registry, as a run would.
``shell`` opens an interactive shell in a step's environment (``tasks.terminal``).
``list`` is doit's own, with the letters of ``--status`` worked out as ``status`` does (doit
asks each task alone, so a step behind one that will run says ``U`` and then runs).

``why``, ``status``, ``graph`` and ``list`` only read, so Ctrl-C ends them with one line and
exit 130, and a reader that stops early (``doit list | head``) ends them quietly: no
traceback either way.
``repro-check`` makes an image step's image twice and compares the two (``tasks.repro``);
it takes the run lock, and writes no record.
"""
from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from doit import get_var
from doit.cmd_base import DoitCmdBase
from doit.cmd_list import List as DoitList
from doit.cmd_run import Run as DoitRun
from doit.exceptions import InvalidCommand

from . import keep_blocked, process, terminal
from .errors import Ac295Error
from .graph import explain, picture
from .kinds.base import ShellHook, ShellRequest
from .reporter import Reporter

#: The exit code of a process ended by SIGPIPE (128 + 13), as the shell reports it.
EXIT_BROKEN_PIPE = 141


class _ReadOnly:
    """Ends a read-only command quietly on Ctrl-C and on a closed output pipe."""

    def execute(self, params: Any, args: Any) -> Any:
        try:
            code = super().execute(params, args)  # type: ignore[misc]
            sys.stdout.flush()  # a closed pipe shows here, not at exit
            return code
        except KeyboardInterrupt:
            sys.stderr.write("ac295: stopped by SIGINT.\n")
            return 130
        except BrokenPipeError:
            # Python would complain again when it flushes stdout at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_BROKEN_PIPE


_OUT = {"name": "output", "short": "o", "long": "output", "type": str, "default": "",
        "help": "where to write the picture, without extension (default: "
                "<state>/graph/<exercise or 'all'>)"}


class _Explaining(_ReadOnly, DoitCmdBase):
    """What ``why``, ``status`` and ``graph`` share: the named tasks and their statuses."""

    def statuses(self, names: list[str]) -> tuple[dict[str, Any], dict[str, explain.Status]]:
        tasks = {t.name: t for t in self.task_list}
        unknown = [n for n in names if n not in tasks]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(tasks), n=1, cutoff=0.6)
            raise InvalidCommand(f"no task {', '.join(unknown)}"
                                 + (f"; did you mean {close[0]}?" if close else "")
                                 + " (`doit list --all` lists them).")
        selected = names or list(self.sel_tasks or [])
        failures = explain.read_failures(self.dep_manager.name)
        return tasks, explain.statuses(tasks, self.dep_manager, selected, failures)


class Why(_Explaining):
    """``doit why TASK|EXERCISE ...``: why each task would run, or what it checked."""

    doc_purpose = "say why each task would run, or that it is up to date and what it checked"
    doc_usage = "[TASK|EXERCISE ...]"
    doc_description = None
    cmd_options = ()

    def _execute(self, pos_args: list[str] | None = None) -> int:
        tasks, found = self.statuses(list(pos_args or []))
        width = max((len(n) for n in found), default=0)
        for name, status in found.items():
            if tasks[name].actions:
                self.outstream.write(f"{name:<{width}}  {status.line()}\n")
        return 0


class Status(_Explaining):
    """``doit status [TASK|EXERCISE ...]``: R / U / ~ / A for each task, truthful downstream."""

    doc_purpose = ("what the next run does: (R)un, (U)p to date, (~) runs only if an upstream "
                   "result changes, (A)lways")
    doc_usage = "[TASK|EXERCISE ...]"
    doc_description = None
    cmd_options = ()

    def _execute(self, pos_args: list[str] | None = None) -> int:
        tasks, found = self.statuses(list(pos_args or []))
        for name, status in found.items():
            if tasks[name].actions:
                self.outstream.write(f"{explain.MARK[status.state]} {name}\n")
        return 0


class Graph(_Explaining):
    """``doit graph [EXERCISE ...]``: an SVG and a PNG of the task graph, coloured by status."""

    doc_purpose = "draw the task graph (SVG and PNG, laid out by Graphviz), coloured by status"
    doc_usage = "[EXERCISE ...]"
    doc_description = None
    cmd_options = (_OUT,)

    def _execute(self, output: str = "", pos_args: list[str] | None = None) -> int:
        names = list(pos_args or [])
        tasks, found = self.statuses(names)
        dot = picture.dot(tasks, found)
        base = Path(output) if output else Path(self.dep_manager.name).parent / "graph" / (
            "-".join(names) or "all")
        base.parent.mkdir(parents=True, exist_ok=True)
        base.with_suffix(".dot").write_text(dot)
        for fmt in ("svg", "png"):
            final = base.with_suffix(f".{fmt}")
            part = final.with_name(f".{final.name}.{os.getpid()}")  # whole pictures only
            try:
                subprocess.run(["dot", f"-T{fmt}", "-o", str(part)],
                               input=dot, text=True, check=True, capture_output=True)
                os.replace(part, final)
            except FileNotFoundError:
                raise InvalidCommand("Graphviz's `dot` is missing: run script/bootstrap, or "
                                     "`apt-get install graphviz` as root.") from None
            except subprocess.CalledProcessError as err:
                raise InvalidCommand(f"dot failed: {err.stderr.strip()}") from None
            finally:
                part.unlink(missing_ok=True)
        self.outstream.write(f"wrote {base.with_suffix('.svg')} and {base.with_suffix('.png')}"
                             f" ({len(found)} tasks)\n")
        return 0


_OWN = {"name": "own_command", "short": "c", "long": "command", "type": bool,
        "default": False, "help": "run the step's own command on the terminal instead of a "
                                  "shell (a run's command, a VM's, the command that failed)"}


class Shell(DoitCmdBase):
    """``doit shell TASK [-c]``: an interactive shell in a step's environment, or in the
    state it failed in; everything made for it is removed when it ends."""

    doc_purpose = ("open an interactive shell in a step's environment (the state it failed "
                   "in, if it kept one); -c runs the step's own command instead")
    doc_usage = "TASK"
    doc_description = None
    cmd_options = (_OWN,)

    def _execute(self, own_command: bool = False, pos_args: list[str] | None = None) -> int:
        # doit reads options before the task only; `doit shell TASK -c` is natural too
        names = [n for n in pos_args or [] if n not in ("-c", "--command")]
        own_command = own_command or len(names) != len(pos_args or [])
        if len(names) != 1:
            raise InvalidCommand("name one step: `doit shell exercise2:image` (`doit list "
                                 "--all` lists them).")
        hook = self.hook(names[0])
        state = Path(self.dep_manager.name).parent
        request = ShellRequest(own_command, lambda: process.locked(state))
        try:
            opened = hook(request)
            if isinstance(opened, str):  # no environment: what to do instead
                terminal.stderr_line(opened)
                return 1
            if not terminal.has_terminal():
                raise InvalidCommand("`doit shell` needs a terminal: run it from one, not "
                                     "with its input or output redirected.")
            return terminal.run(opened, terminal.stderr_line)
        except Ac295Error as err:
            raise InvalidCommand(str(err)) from None

    def hook(self, name: str) -> ShellHook:
        """The shell hook of the step task ``name``.

        Raises:
            InvalidCommand: no such task, or not a step (an exercise, a project command).
        """
        tasks = {t.name: t for t in self.task_list}
        exercise = tasks.get(name.split(":", 1)[0])
        if exercise is not None and str(exercise.doc or "").startswith("BROKEN "):
            raise InvalidCommand(f"the exercise {exercise.name} cannot be loaded, so none of "
                                 f"its steps can be opened: {exercise.doc[len('BROKEN '):]}")
        if name not in tasks:
            raise InvalidCommand(f"no task {name}; `doit list --all` lists them.")
        hook = (tasks[name].meta or {}).get("ac295_shell")
        if isinstance(hook, ShellHook):
            return hook
        steps = [t for t in sorted(tasks) if t.startswith(f"{name}:")
                 and isinstance((tasks[t].meta or {}).get("ac295_shell"), ShellHook)]
        if steps:
            raise InvalidCommand(f"{name} is an exercise: name one of its steps "
                                 f"({', '.join(steps)}).")
        raise InvalidCommand(f"{name} is not a step of an exercise: it has no environment to "
                             "open a shell in.")


class List(_ReadOnly, DoitList):
    """doit's ``list``; ``--status`` prints ``status``'s letters (R, ~, A, U; I ignored)."""

    doc_purpose = ("list tasks from dodo file; --status: (R)un, (~) runs only if an upstream "
                   "result changes, (A)lways, (U)p to date, (I)gnored, as `status` says")

    def _execute(self, subtasks: bool = False, quiet: bool = True, status: bool = False,
                 private: bool = False, list_deps: bool = False, template: str | None = None,
                 sort: str = "name", pos_args: list[str] | None = None) -> int:
        # doit passes the options by the names of these parameters: keep doit's signature
        self._found: dict[str, explain.Status] | None = None
        return int(super()._execute(subtasks, quiet, status, private, list_deps, template,
                                    sort, pos_args))

    def _print_task(self, template: str, task: Any, status: bool, list_deps: bool,
                    tasks: dict[str, Any]) -> None:
        line = {"name": task.name, "doc": task.doc}
        if status:
            line["status"] = self._letter(task, tasks)
        self.outstream.write(template.format(**line))
        if list_deps:
            for dep in task.file_dep:
                self.outstream.write(f" -  {dep}\n")
            self.outstream.write("\n")

    def _letter(self, task: Any, tasks: dict[str, Any]) -> str:
        if self.dep_manager.status_is_ignore(task):
            return "I"
        failures = explain.read_failures(self.dep_manager.name)
        setups = {s for t in tasks.values() for s in t.setup_tasks}
        if task.name in setups:  # its own line: what `doit status <it>` says
            alone = explain.statuses(tasks, self.dep_manager, [task.name], failures)
            return explain.MARK[alone[task.name].state]
        if self._found is None:  # every task's, in the graph's order, once; a setup task
            # does what the tasks that need it do, as for `status` of an exercise
            self._found = explain.statuses(tasks, self.dep_manager,
                                           [n for n in tasks if n not in setups], failures)
        if task.actions:
            return explain.MARK[self._found[task.name].state]
        # a group: what its steps do, the strongest first (a setup runs only for them)
        members = [self._found[n] for n in explain.closure(tasks, [task.name])
                   if n in self._found and tasks[n].actions and n not in setups]
        for state in ("run", "may", "always"):
            if any(s.state == state for s in members):
                return explain.MARK[state]
        return explain.MARK["fresh"]


class Run(DoitRun):
    """doit's ``run``, which this project runs with ``continue`` on (``DOIT_CONFIG``): one
    exercise that fails never stops the others, and each failure is reported.

    doit then exits 2 ("error") as soon as a task could not run because one it needs failed,
    which would hide a plain failure (exit 1) behind the code ``verify`` keeps for "only
    Debian's archive moved". So a run whose only errors are such blocked tasks exits 1.
    And such a task keeps its saved state (``tasks.keep_blocked``): it did not run, so only
    what it reads decides whether it runs next time.
    """

    def _execute(self, outfile: Any, verbosity: Any = None, always: bool = False,
                 continue_: bool = False, reporter: Any = "console", num_process: int = 0,
                 par_type: str = "process", single: bool = False,
                 auto_delayed_regex: bool = False, force_verbosity: bool = False,
                 failure_verbosity: int = 0, pdb: bool = False) -> int:
        # doit passes the options by the names of these parameters: keep doit's signature
        with keep_blocked.in_place():  # a task a failure blocked keeps its saved state
            code = int(super()._execute(outfile, verbosity, always, continue_, reporter,
                                        num_process, par_type, single, auto_delayed_regex,
                                        force_verbosity, failure_verbosity, pdb))
        if code == 2 and isinstance(reporter, Reporter) and not reporter.errors:
            return 1  # every error was "a task it needs failed": the failure's own code
        return code

class ReproCheck(DoitCmdBase):
    """``doit repro-check TASK ...``: make an image step twice and compare the bytes."""

    name = "repro-check"

    doc_purpose = ("make an image step twice (no cache, two folders, two times) and say "
                   "whether the images are identical, or which layer and files differ")
    doc_usage = "TASK [TASK ...]"
    doc_description = None
    cmd_options = ()

    def _execute(self, pos_args: list[str] | None = None) -> int:
        from .dsl import config as config_mod
        from .errors import Ac295Error
        from .kinds import KINDS
        from .kinds.runtime import Runtime
        from .project import load_isolated
        from .repro import check

        names = list(pos_args or [])
        if not names:
            raise InvalidCommand("name the image steps to check, e.g. `doit repro-check "
                                 "exercise2:image`.")
        namespace = getattr(self.loader, "namespace", None) or {}
        root = Path(namespace.get("__file__") or "dodo.py").resolve().parent
        try:
            cfg = config_mod.load(root, cmdline=get_var)
            exercises, broken, _ = load_isolated(cfg, KINDS)
            rt = Runtime(cfg)
            same = True
            for name in names:
                if name.split(":", 1)[0] in broken:
                    raise Ac295Error(str(broken[name.split(":", 1)[0]]))
                same = check(rt, KINDS, exercises, name,
                             lambda line: self.outstream.write(line + "\n")) and same
        except Ac295Error as err:
            self.outstream.write(f"repro-check: {err}\n")
            return 2
        return 0 if same else 1
