"""Load the whole project for dodo.py: config, specs, doit settings and task dicts.

Kept out of dodo.py so that dodo.py stays a few lines and tests can load a project directly.
"""
from __future__ import annotations

import os
import signal
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Mapping

from . import config as config_mod
from . import graph, spec
from .checker import StatThenHash
from .errors import Ac295Error
from .steps import Runtime

__all__ = ["Ac295Error", "load"]


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


def _terminate_like_ctrl_c() -> None:
    """Make SIGTERM (CI timeouts, ``docker stop``, ``kill``) end a run as Ctrl-C does.

    By default SIGTERM kills Python at once: doit then saves nothing of the tasks that
    finished in that run, and services stay up. As a KeyboardInterrupt it goes through doit's
    ``finally``: the database is saved and teardowns remove services and networks.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)


def _raise_interrupt(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough
    # Ctrl-C reaches the whole foreground group; a SIGTERM only doit. Pass it on to the
    # recipes doit is waiting for (same session; the registry has its own), or doit would
    # wait for them to end before it can save and tear down.
    for pid in _descendants(os.getpid()):
        try:
            if os.getsid(pid) == os.getsid(0):
                os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    raise KeyboardInterrupt(f"signal {signum}")


def _descendants(root: int) -> list[int]:
    """Pids of the processes below ``root``, read from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def load(root: Path, cmdline_vars: Callable[[str], str | None] | None = None,
         environ: dict[str, str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return ``(DOIT_CONFIG, task dicts)`` for the project at ``root``.

    Args:
        root: the folder holding dodo.py and ac295.yml.
        cmdline_vars: doit's ``get_var``; its ``name=value`` pairs override variables.
        environ: the environment (default ``os.environ``), for ``AC295_*`` overrides.

    Raises:
        Ac295Error: any spec or config problem, before a task exists.
    """
    cfg = config_mod.load(root, environ=environ, cmdline=cmdline_vars)
    _check_engine_reaches_registry(cfg, os.environ if environ is None else environ)
    exercises = spec.load_project(cfg)
    runtime = Runtime(cfg)
    tasks = list(graph.exercise_tasks(runtime, exercises))
    cfg.state.mkdir(parents=True, exist_ok=True)
    _terminate_like_ctrl_c()
    doit_config = {
        # sqlite3: safe with more than one reader; dbm.dumb (the default here) can corrupt.
        "backend": "sqlite3",
        "dep_file": str(cfg.state / "doit.sqlite"),
        "default_tasks": [e.name for e in exercises],
        "verbosity": 2,
        # stat (ctime included) then md5: an equal-mtime content swap is seen, a touch that
        # keeps the content reruns nothing (see tasks/checker.py)
        "check_file_uptodate": StatThenHash,
    }
    return doit_config, tasks
