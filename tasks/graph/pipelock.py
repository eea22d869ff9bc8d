"""The pipeline lock (``ac295.lock``): what every exercise produced, to commit and verify.

For each step that keeps a record it holds the facts another machine should reproduce: an
environment's lock hash, an image's inputs digest and id (the base image included), a pulled
or pushed reference's digest. ``doit lock`` writes it; ``doit verify`` compares this
machine's records with it and prints each difference on one line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import LockError
from . import records

LOCK_FILE = "ac295.lock"
SCHEMA = 1


def current(state: Path, fields: Mapping[str, Iterable[str]]) -> dict[str, dict[str, Any]]:
    """This machine's facts, {task: {field: value}}, from the records.

    Args:
        state: the state folder holding the records.
        fields: for each locked task, the record fields its kind puts in the lock.

    Raises:
        LockError: a record is missing (its step has not run).
    """
    found: dict[str, dict[str, Any]] = {}
    for task, keys in fields.items():
        record = records.read(records.path_in(state, task))
        if record is None:
            raise LockError(f"{task} has no record; run it first.")
        found[task] = {key: record.get(key) for key in keys}
    return found


def write(path: Path, facts: dict[str, dict[str, Any]]) -> None:
    records.write_text(path, json.dumps({"schema": SCHEMA, "steps": facts}, indent=2,
                                        sort_keys=True) + "\n")


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The locked facts. Raises LockError if the file is missing or not a lock."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockError(f"no {path.name}: run `doit lock` to write one.") from None
    except (OSError, ValueError) as err:
        raise LockError(f"{path} is not a readable lock ({err}); run `doit lock`.") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise LockError(f"{path} is not a lock of this version; run `doit lock`.")
    return data.get("steps") or {}


def differences(locked: dict[str, dict[str, Any]],
                here: dict[str, dict[str, Any]]) -> list[str]:
    """One line per difference, sorted: missing steps, extra steps, changed fields."""
    lines = []
    for task in sorted(set(locked) | set(here)):
        if task not in here:
            lines.append(f"{task}: in the lock, not in this project")
        elif task not in locked:
            lines.append(f"{task}: not in the lock")
        else:
            for key in sorted(set(locked[task]) | set(here[task])):
                was, now = locked[task].get(key), here[task].get(key)
                if was != now:
                    lines.append(f"{task} {key}: lock {was}, here {now}")
    return lines
