"""The names a doit command line can hold, in one place.

doit reads its first word as a command when it names one, and as a task otherwise; so no
exercise folder (a top-level task) may be named after a command or after one of the project's
own top-level tasks. ``tasks.process`` reads here which commands take the run lock, the parser
which folder names to refuse, ``tasks.toplevel`` the names of its tasks.
"""
from __future__ import annotations

#: doit's commands that run no task and write nothing.
DOIT_READ_ONLY = frozenset({"list", "info", "help", "dumpdb", "tabcompletion"})
#: doit's commands that run tasks or write doit's database.
DOIT_WRITING = frozenset({"run", "clean", "forget", "ignore", "reset-dep", "strace", "auto"})
DOIT_COMMANDS = DOIT_READ_ONLY | DOIT_WRITING

#: This project's plugin commands (pyproject.toml, ``tasks.commands``) that run no task and
#: write nothing to doit's database: no run lock for the life of the process (``shell`` takes
#: it only while it sets an environment up, so that runs may go on while a shell is open).
SHELL = "shell"
PROJECT_READ_ONLY = frozenset({"why", "status", "graph", SHELL})
#: This project's plugin commands that run or make things (and so take the run lock).
PROJECT_WRITING = frozenset({"watch", "repro-check"})
PROJECT_COMMANDS = PROJECT_READ_ONLY | PROJECT_WRITING

#: The project's own top-level tasks (``tasks.toplevel``).
REGISTRY_START = "registry_start"
REGISTRY_STOP = "registry_stop"
LOCK = "lock"
VERIFY = "verify"
PRUNE = "prune"
PROJECT_TASKS = frozenset({REGISTRY_START, REGISTRY_STOP, LOCK, VERIFY, PRUNE})

#: Every command that reads only (no run lock, no signal hand-over to recipes).
READ_ONLY = DOIT_READ_ONLY | PROJECT_READ_ONLY
#: Every command that runs tasks or writes.
WRITING = DOIT_WRITING | PROJECT_WRITING
#: What an exercise folder may not be called.
RESERVED = DOIT_COMMANDS | PROJECT_COMMANDS | PROJECT_TASKS


def shell_line(task: str) -> str:
    """The exact command that opens a shell in a step's environment (or its failed state)."""
    return f"script/doit {SHELL} {task}"
