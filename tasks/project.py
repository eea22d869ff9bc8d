"""Load the whole project for dodo.py: config, specs, doit settings and task dicts.

Kept out of dodo.py so that dodo.py stays a few lines and tests can load a project directly.
Loading has no side effects on the process (``tasks.process`` has those).
"""
from __future__ import annotations

import os
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import Ac295Error, SpecError
from .graph.compile import exercise_tasks
from .graph import edges
from .graph.checker import StatThenHash
from .graph.explain import BROKEN, failed_path
from .kinds import KINDS
from .kinds.actions import action
from .kinds.base import KindTable
from .kinds.runtime import Runtime
from .reporter import Reporter
from .dsl import config as config_mod
from .dsl.exercises import exercise_files, load_exercise, load_project, name_problem
from .dsl.cache import SpecCache, parser_version
from .dsl.model import Exercise
from .engine.client import Engine
from .toplevel import project_tasks

__all__ = ["Ac295Error", "Graph", "load", "load_exercises", "load_graph"]


def _check_engine_reaches_registry(cfg: config_mod.Config, environ: Mapping[str, str]) -> None:
    """A remote engine cannot push to this machine's 127.0.0.1: refuse that mix up front."""
    host = environ.get("DOCKER_HOST", "")
    remote = urllib.parse.urlparse(host).hostname if "://" in host else None
    if cfg.local_registry_port is not None and remote and \
            remote not in config_mod.LOOPBACK_HOSTS:
        raise Ac295Error(f"DOCKER_HOST={host} is another machine, but the registry "
                         f"{cfg.registry} is this machine's loopback, which that engine cannot "
                         "reach. Set the 'registry' variable (AC295_REGISTRY) to a registry "
                         "both reach, or use the local engine.")


def load_exercises(cfg: config_mod.Config, kinds: KindTable = KINDS) -> list[Exercise]:
    """Parse every exercise and check references and cycles across them.

    Raises:
        SpecError: the first problem, with file, line and key.
    """
    exercises = load_project(cfg, kinds)
    edges.check(exercises, kinds, cfg.state)
    return exercises


def load_isolated(cfg: config_mod.Config, kinds: KindTable = KINDS
                  ) -> tuple[list[Exercise], dict[str, SpecError], edges.Producers]:
    """Every exercise that loads, the error of each one that does not, and who makes what.

    One broken exercise.yml must not stop the others (nor `registry_stop`, `clean`, `list`):
    an exercise whose file, or whose references across exercises, are wrong is set aside
    with its error, and the cross-exercise checks run again without it. Unchanged files
    are not parsed again (``tasks.dsl.cache``).
    """
    good: list[Exercise] = []
    broken: dict[str, SpecError] = {}
    files = exercise_files(cfg.root)
    cache = SpecCache(cfg.state / "cache" / "specs.pickle",
                      parser_version(type(k).__module__ for k in kinds),
                      dict(cfg.variables))

    def inputs_of(exercise: Exercise) -> list[Path]:
        return [p for s in exercise.steps.values() for p in kinds.of(s).parse_inputs(s)]

    for path in files:
        exercise = cache.get(path, inputs_of)
        if exercise is None:
            try:
                exercise = load_exercise(path, cfg, kinds)
            except SpecError as err:
                broken[path.parent.name] = err
                continue
            cache.put(path, exercise, inputs_of(exercise))
        good.append(exercise)
    cache.forget_others(files)
    cache.save()
    while True:
        try:
            return good, broken, edges.check(good, kinds, cfg.state, broken)
        except SpecError as err:
            # the exercise whose folder holds the file (a compose file may sit deeper)
            name = next((e.name for e in good
                         if err.where.file.resolve().is_relative_to(e.folder.resolve())),
                        err.where.file.parent.name)
            if name not in {e.name for e in good}:
                raise
            broken[name] = err
            good = [e for e in good if e.name != name]


def broken_name(folder: str) -> str:
    """The task name of a broken exercise: its folder's name, or ``exercises/<folder>`` when
    that name cannot be a task of its own (a command, one of the project's tasks, a name
    doit refuses): a folder named ``lock`` must never take the place of ``lock``."""
    if name_problem(folder, "folder") is None:
        return folder
    return "exercises/" + folder.replace("=", "_")  # doit refuses '=' in a task name


def broken_tasks(broken: dict[str, SpecError]) -> list[dict[str, Any]]:
    """The tasks of the exercises whose spec is wrong: `doit list` marks each, running one
    fails with its error, and `why` says that error (``meta``), never an older one."""
    tasks, names = [], set()
    for folder, error in sorted(broken.items()):
        name = broken_name(folder)
        while name in names:  # two odd names made the same one
            name += "_"
        names.add(name)
        problem = error.problem if len(error.problem) <= 90 else error.problem[:87] + "..."
        tasks.append({"basename": name, "doc": f"BROKEN {error.where}: {problem}",
                      "actions": [action(_fail, str(error))], "uptodate": [False],
                      "verbosity": 2, "meta": {BROKEN: str(error)}})
    return tasks


def _fail(message: str) -> None:
    raise Ac295Error(message)


@dataclass
class Graph:
    """A loaded project: what ``load`` gives doit, and what it was made from.

    A resident process (``doit watch``) keeps it between cycles, and needs the exercises to
    see which files each step reads.
    """

    config: config_mod.Config
    runtime: Runtime
    exercises: list[Exercise]
    broken: dict[str, SpecError]
    producers: edges.Producers
    tasks: list[dict[str, Any]]
    doit_config: dict[str, Any]


def load(root: Path, cmdline_vars: Callable[[str], str | None] | None = None,
         environ: Mapping[str, str] | None = None, kinds: KindTable = KINDS,
         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return ``(DOIT_CONFIG, task dicts)`` for the project at ``root``.

    Args:
        root: the folder holding dodo.py and ac295.yml.
        cmdline_vars: doit's ``get_var``; its ``name=value`` pairs override variables.
        environ: the environment (default ``os.environ``), for ``AC295_*`` overrides.
        kinds: the step kinds (tests add their own).

    Raises:
        Ac295Error: a problem of the whole project (ac295.yml, the engine), before any task
            exists. A broken exercise does not raise: its task fails (``load_isolated``).
    """
    graph = load_graph(root, cmdline_vars, environ, kinds)
    return graph.doit_config, graph.tasks


def load_graph(root: Path, cmdline_vars: Callable[[str], str | None] | None = None,
               environ: Mapping[str, str] | None = None, kinds: KindTable = KINDS,
               engine: Engine | None = None) -> Graph:
    """``load``, with what it was made from; ``engine``: an engine view to keep (its client
    and connection), as a resident process does across loads."""
    environ = os.environ if environ is None else environ
    cfg = config_mod.load(root, environ=environ, cmdline=cmdline_vars)
    _check_engine_reaches_registry(cfg, environ)
    exercises, broken, producers = load_isolated(cfg, kinds)
    runtime = Runtime(cfg) if engine is None else Runtime(cfg, engine=engine)
    tasks = list(exercise_tasks(runtime, kinds, exercises, producers))
    broken_list = broken_tasks(broken)
    tasks += broken_list
    tasks += list(project_tasks(runtime, kinds, exercises))
    cfg.state.mkdir(parents=True, exist_ok=True)  # doit opens its database there
    doit_config = {
        # sqlite3: safe with more than one reader; dbm.dumb (the default here) can corrupt.
        "backend": "sqlite3",
        "dep_file": str(cfg.state / "doit.sqlite"),
        "default_tasks": sorted([e.name for e in exercises]
                                + [t["basename"] for t in broken_list]),
        "verbosity": 2,
        # one exercise that fails never stops the others (doit stops at the first failure
        # by default); tasks.commands.Run keeps the exit code of a plain failure at 1
        "continue": True,
        # stat (ctime included) then md5: an equal-mtime content swap is seen, a touch that
        # keeps the content reruns nothing (see tasks/graph/checker.py)
        "check_file_uptodate": StatThenHash,
        # the end of every run, in doit's main process: clean-up, interrupts, a summary
        "reporter": Reporter(sys.stdout, {}, failed_path(cfg.state / "doit.sqlite")),
    }
    return Graph(cfg, runtime, exercises, broken, producers, tasks, doit_config)

