"""Load the whole project for dodo.py: config, specs, doit settings and task dicts.

Kept out of dodo.py so that dodo.py stays a few lines and tests can load a project directly.
Loading has no side effects on the process (``tasks.process`` has those).
"""
from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import Ac295Error
from .graph import compile as graph
from .graph import edges
from .graph.checker import StatThenHash
from .kinds import REGISTRY
from .kinds.base import Registry
from .kinds.runtime import Runtime
from .spec import config as config_mod
from .spec import exercises as spec
from .spec.model import Exercise
from .toplevel import project_tasks

__all__ = ["Ac295Error", "load", "load_exercises"]


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


def load_exercises(cfg: config_mod.Config, kinds: Registry = REGISTRY) -> list[Exercise]:
    """Parse every exercise and check references and cycles across them.

    Raises:
        SpecError: the first problem, with file, line and key.
    """
    exercises = spec.load_project(cfg, kinds)
    edges.check(exercises, kinds, cfg.state)
    return exercises


def load(root: Path, cmdline_vars: Callable[[str], str | None] | None = None,
         environ: Mapping[str, str] | None = None, kinds: Registry = REGISTRY,
         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return ``(DOIT_CONFIG, task dicts)`` for the project at ``root``.

    Args:
        root: the folder holding dodo.py and ac295.yml.
        cmdline_vars: doit's ``get_var``; its ``name=value`` pairs override variables.
        environ: the environment (default ``os.environ``), for ``AC295_*`` overrides.
        kinds: the step kinds (tests add their own).

    Raises:
        Ac295Error: any spec or config problem, before a task exists.
    """
    environ = os.environ if environ is None else environ
    cfg = config_mod.load(root, environ=environ, cmdline=cmdline_vars)
    _check_engine_reaches_registry(cfg, environ)
    exercises = load_exercises(cfg, kinds)
    runtime = Runtime(cfg)
    tasks = list(graph.exercise_tasks(runtime, kinds, exercises))
    tasks += list(project_tasks(runtime, kinds, exercises))
    cfg.state.mkdir(parents=True, exist_ok=True)  # doit opens its database there
    doit_config = {
        # sqlite3: safe with more than one reader; dbm.dumb (the default here) can corrupt.
        "backend": "sqlite3",
        "dep_file": str(cfg.state / "doit.sqlite"),
        "default_tasks": [e.name for e in exercises],
        "verbosity": 2,
        # stat (ctime included) then md5: an equal-mtime content swap is seen, a touch that
        # keeps the content reruns nothing (see tasks/graph/checker.py)
        "check_file_uptodate": StatThenHash,
    }
    return doit_config, tasks

