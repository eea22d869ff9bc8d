"""Small JSON records of results that live outside the file system (images, pushed tags, runs).

A record is a doit ``target`` of the step that makes it and a ``file_dep`` of the steps that use
it. Records are deterministic (no timestamps), so an upstream step that reruns and produces
the same image leaves its record's bytes unchanged and downstream steps stay up to date.
They are written atomically (temp file + rename) and only when a step succeeds; a step removes
its record before it starts, so a failed or interrupted step leaves none claiming success.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SCHEMA = 1


def path_in(state: Path, task: str) -> Path:
    """The record file of task ``exercise:step`` under a state folder."""
    exercise, _, step = task.partition(":")
    return state / "records" / exercise / f"{step}.json"


def local_of(record: Path) -> Path:
    """The file beside a record for facts about this machine only (engine ids, registry
    digests): not a doit target or dependency, and never in ``ac295.lock``."""
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


def write_text(path: Path, text: str) -> None:
    """Write any small file atomically (temp file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(path: Path) -> None:
    """Forget a record (before a step runs, so failure leaves nothing claiming success)."""
    path.unlink(missing_ok=True)
