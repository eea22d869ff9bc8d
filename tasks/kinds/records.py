"""Small JSON records of results that live outside the file system (images, pushed tags, runs).

A record holds what a step made, by content: an image's content digest, a run's output, an
environment's lock. It is a doit ``target`` of the step that makes it and a ``file_dep`` of the
steps that use it. Records are deterministic (no timestamps, no places), so an upstream step
that reruns and makes the same result leaves its record's bytes unchanged and downstream steps
stay up to date (an early cutoff). Beside each record, its notes (``local/``) say how and where
it was made: the inputs digest the step's own check compares, and facts about this machine
(engine ids, this registry's digests). Notes are never a doit dependency.

Both are written atomically (temp file + rename) and only when a step succeeds; a step removes
them before it starts, so a failed or interrupted step leaves nothing claiming success.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import write_text

SCHEMA = 2


_PATHS: dict[tuple[Path, str], Path] = {}


def path_in(state: Path, task: str) -> Path:
    """The record file of task ``exercise:step`` under a state folder.

    Kept once made: compiling a project asks for each record several times, and building
    paths is most of what loading 1000 exercises costs.
    """
    found = _PATHS.get((state, task))
    if found is None:
        exercise, _, step = task.partition(":")
        found = _PATHS[(state, task)] = Path(f"{state}/records/{exercise}/{step}.json")
    return found


def local_of(record: Path) -> Path:
    """The notes beside a record: how and where it was made (the inputs digest, engine ids,
    registry digests); never a doit target or dependency."""
    return record.parents[2] / "local" / record.parent.name / record.name


def read(path: Path) -> dict[str, Any] | None:
    """Return a record, or None if it is missing or unreadable (treated as "never ran")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return data


def write(path: Path, data: dict[str, Any]) -> None:
    """Write a record atomically: readers see the old file or the new one, never half of one."""
    write_text(path, json.dumps({"schema": SCHEMA, **data}, indent=2, sort_keys=True) + "\n")


def remove(path: Path) -> None:
    """Forget a record (before a step runs, so failure leaves nothing claiming success)."""
    path.unlink(missing_ok=True)
