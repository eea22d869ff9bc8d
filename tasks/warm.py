"""What a resident process (``doit watch``) knows of a loaded graph: the files each task
reads, which saves matter, and which tasks a save touches. Pure but for reading the disk.

- ``relevant``: editors' swap and temporary files, tool caches, the state folder and the
  files the graph itself makes (targets, wheelhouses) never start a cycle.
- ``Index``: who reads what. A task reads its ``file_dep``, its kind's ``reads`` (recipe
  deps, a roster's records) and its build contexts, in which only the files the engine would
  be sent count (``.dockerignore`` is honoured by the same selection the inputs digest uses).
  An exercise.yml, ac295.yml or a file a parse read (a Dockerfile, a roster) reloads the
  graph.
- ``Edges``: doit's own edges between tasks (task_dep, setup and a file_dep on another
  task's target), read from doit's Task objects, for the tasks a run of the selection
  considers (``watched``) and the tasks downstream of a change (``downstream``).

A cycle runs the readers of the saved files and what is downstream of them, through doit,
with the same up-to-date checks as a run: a reader whose inputs did not really change (a
save with the same bytes) is up to date, and so is what follows it.
"""
from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from .dsl.config import CONFIG_FILE
from .dsl.exercises import SPEC_FILE
from .engine import images
from .errors import Ac295Error
from .graph.compile import step_config
from .kinds.base import KindTable
from .project import Graph

#: Folders whose files never matter: version control, caches, environments.
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", ".mypy_cache",
                          ".pytest_cache", ".hypothesis", ".tox", ".idea", ".vscode",
                          "node_modules", ".ipynb_checkpoints"})
#: Files editors and tools write beside the one being saved: vim's swap files and write
#: test (4913), backups (~), emacs' lock and autosave files, JetBrains' and Kate's temporary
#: files, gedit's and sed -i's temporary copies, compiled Python.
EDITOR_TEMP = re.compile(r"""(
    \.sw[a-p]$ | \.swp?x$ | ^4913$ | ~$ | ^\.\# | ^\#.*\#$ | ___jb_(tmp|old)___$
  | \.kate-swp$ | ^\.goutputstream- | ^sed[A-Za-z0-9]{6}$ | \.py[cod]$ | ^\.DS_Store$
  | \.(tmp|temp|bak|orig|rej|part|crdownload)$
)""", re.VERBOSE)


def editor_temporary(name: str) -> bool:
    """True if a file name is one that editors and tools write beside a saved file."""
    return bool(EDITOR_TEMP.search(name))


@dataclass
class Edges:
    """doit's edges between tasks: what each task needs before it runs.

    Attributes:
        needs: task -> the tasks it needs (task_dep, setup tasks, makers of its file_deps).
        groups: the group tasks (an exercise's name): they run nothing themselves.
        actions: the tasks that run something.
    """

    needs: dict[str, list[str]]
    groups: frozenset[str]
    actions: frozenset[str]

    @classmethod
    def of(cls, tasks: Iterable[Any]) -> "Edges":
        """From doit ``Task`` objects (their implicit task_deps included: ``TaskControl``)."""
        listed = list(tasks)
        makers = {target: t.name for t in listed for target in t.targets}
        needs: dict[str, list[str]] = {}
        for task in listed:
            found = list(task.task_dep) + list(task.setup_tasks)
            found += [makers[f] for f in task.file_dep if f in makers]
            needs[task.name] = list(dict.fromkeys(n for n in found if n != task.name))
        return cls(needs, frozenset(t.name for t in listed if t.has_subtask),
                   frozenset(t.name for t in listed if t.actions))

    def watched(self, selection: Iterable[str]) -> set[str]:
        """The tasks a run of ``selection`` considers: them and all they need."""
        seen: set[str] = set()
        todo = deque(selection)
        while todo:
            name = todo.popleft()
            if name in seen or name not in self.needs:
                continue
            seen.add(name)
            todo.extend(self.needs[name])
        return seen

    def downstream(self, names: Iterable[str], within: set[str]) -> set[str]:
        """``names`` and every task of ``within`` that needs one of them, directly or not
        (a group task needing its steps is not an edge: it runs nothing)."""
        users: dict[str, list[str]] = {}
        for task, needed in self.needs.items():
            if task in self.groups:
                continue
            for name in needed:
                users.setdefault(name, []).append(task)
        found = {n for n in names if n in within}
        todo = deque(found)
        while todo:
            for user in users.get(todo.popleft(), ()):
                if user in within and user not in found:
                    found.add(user)
                    todo.append(user)
        return found


@dataclass
class Index:
    """Which task reads which file, for one loaded graph.

    Attributes:
        root: the project folder.
        state: the state folder (never watched).
        files: a file -> the tasks that read it.
        contexts: a build context folder -> the tasks that read it.
        reloads: files whose change reloads the graph (exercise.yml files, ac295.yml, the
            files a parse read) -> the exercise they belong to ("" for ac295.yml).
        made: files and folders the graph makes (targets, wheelhouses): written by the runs
            themselves, never a reason for a cycle.
        selections: each context's files as the engine would be sent them (kept: a deleted
            file counts if it was selected).
    """

    root: Path
    state: Path
    files: dict[Path, set[str]] = field(default_factory=dict)
    contexts: dict[Path, set[str]] = field(default_factory=dict)
    reloads: dict[Path, str] = field(default_factory=dict)
    made: set[Path] = field(default_factory=set)
    selections: dict[Path, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: Graph, kinds: KindTable, tasks: Iterable[Any]) -> "Index":
        """Index a graph; ``tasks``: its doit Task objects (for file_deps and targets)."""
        cfg = graph.config
        index = cls(cfg.root, cfg.state)
        index.reloads[cfg.root / CONFIG_FILE] = ""
        for name in graph.broken:
            index.reloads[cfg.root / "exercises" / name / SPEC_FILE] = name
        for task in tasks:
            for dep in task.file_dep:
                index.files.setdefault(Path(dep), set()).add(task.name)
            index.made.update(Path(t) for t in task.targets)
        for exercise in graph.exercises:
            index.reloads[exercise.file] = exercise.name
            for step in exercise.steps.values():
                kind = kinds.of(step)
                reads = kind.reads(step)
                for path in reads.files:
                    index.files.setdefault(path, set()).add(step.task)
                for folder in reads.folders:
                    index.contexts.setdefault(folder, set()).add(step.task)
                for path in kind.parse_inputs(step):
                    if path not in reads.folders:  # a context is read, not parsed
                        index.reloads.setdefault(path, exercise.name)
                        index.files.setdefault(path, set()).add(step.task)
                index.made.update(kind.makes(step, exercise).files)
        for folder in index.contexts:
            index.selections[folder] = index._select(folder)
        return index

    def _select(self, folder: Path) -> set[str]:
        try:
            return set(images.context_files(folder, folder / "Dockerfile"))
        except (OSError, UnicodeDecodeError, Ac295Error):
            return set()  # an unreadable context: the build itself says why

    def relevant(self, path: Path) -> bool:
        """False for what never starts a cycle: the state folder, ignored folders, editors'
        temporary files, and what the graph makes."""
        if path == self.state or self.state in path.parents:
            return False
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return False
        if any(part in IGNORED_DIRS for part in parts) or editor_temporary(path.name):
            return False
        return not any(made == path or made in path.parents for made in self.made)

    def reload(self, paths: Iterable[Path]) -> list[Path]:
        """The paths among ``paths`` that reload the graph: spec and config files, the files
        a parse read, and an exercise.yml appearing in a new folder."""
        exercises = self.root / "exercises"
        return [p for p in paths if p in self.reloads
                or (p.name == SPEC_FILE and p.parent.parent == exercises)]

    def readers(self, paths: Iterable[Path], resel: bool = True) -> set[str]:
        """The tasks that read one of ``paths``.

        Args:
            resel: select the files of the contexts these paths are in again (a file was
                added, removed or renamed, or .dockerignore changed); False when only
                contents changed.
        """
        found: set[str] = set()
        for path in paths:
            found |= self.files.get(path, set())
            for folder, tasks in self.contexts.items():
                if folder not in path.parents:
                    continue
                rel = path.relative_to(folder).as_posix()
                before = self.selections.get(folder, set())
                if resel:
                    self.selections[folder] = self._select(folder)
                if rel == ".dockerignore" or rel in before or rel in self.selections[folder]:
                    found |= tasks
        return found

    def watch_roots(self) -> list[Path]:
        """The folders to watch for events: the exercises (everything a step may read is in
        its exercise's folder or under the state folder, which the runs write)."""
        return [self.root / "exercises"]


def step_configs(graph: Graph, kinds: KindTable) -> dict[str, Any]:
    """Each step's config (``tasks.graph.compile.step_config``) by task: after a reload, the
    tasks whose config changed, or that are new, are the ones to run."""
    cfg = graph.config
    return {s.task: step_config(s, cfg.root, cfg.registry)
            for e in graph.exercises for s in e.steps.values()}


def changed_steps(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The tasks that are new in ``after`` or whose step config differs from ``before``."""
    return {task for task, config in after.items() if before.get(task) != config}


def watchable(path: str | os.PathLike[str]) -> Path:
    """A path as an event names it, made comparable with the index's (absolute, normalized;
    links are not resolved, as the project's paths are not)."""
    return Path(os.path.abspath(path))
