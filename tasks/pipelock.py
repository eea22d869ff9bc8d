"""The pipeline lock (``ac295.lock``): what every exercise produced, to commit and verify.

For each step that keeps a record it holds the facts another machine should reproduce: an
environment's lock hash, an image's inputs digest and id (the base image included), a pulled
or pushed reference's digest. ``doit lock`` writes it; ``doit verify`` compares this
machine's records with it and prints each difference on one line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from . import records
from .config import Config
from .errors import Ac295Error
from .model import AnyStep, Exercise

LOCK_FILE = "ac295.lock"
SCHEMA = 1
#: The record fields that the lock keeps, by step kind.
FIELDS: dict[str, tuple[str, ...]] = {
    "venv": ("lock",),
    "wheelhouse": ("lock",),
    "build": ("inputs_digest", "image_id"),
    "import": ("inputs_digest", "image_id"),
    "commit": ("inputs_digest", "image_id"),
    "pull": ("ref", "digest", "image_id"),
    "push": ("ref", "digest"),
}


def locked_steps(exercises: Iterable[Exercise]) -> list[AnyStep]:
    """The steps the lock covers: those of a kind in FIELDS that keep a record."""
    return [s for e in exercises for s in e.steps.values()
            if s.kind in FIELDS and not s.ephemeral]


def current(config: Config, steps: Iterable[AnyStep]) -> dict[str, dict[str, Any]]:
    """This machine's facts, {task: {field: value}}, from the records.

    Raises:
        Ac295Error: a record is missing (its step has not run).
    """
    found: dict[str, dict[str, Any]] = {}
    for step in steps:
        record = records.read(records.path_for(config, step.task))
        if record is None:
            raise Ac295Error(f"{step.task} has no record; run it first.")
        found[step.task] = {key: record.get(key) for key in FIELDS[step.kind]}
    return found


def write(path: Path, facts: dict[str, dict[str, Any]]) -> None:
    records.write_text(path, json.dumps({"schema": SCHEMA, "steps": facts}, indent=2,
                                        sort_keys=True) + "\n")


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The locked facts. Raises Ac295Error if the file is missing or not a lock."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Ac295Error(f"no {path.name}: run `doit lock` to write one.") from None
    except (OSError, ValueError) as err:
        raise Ac295Error(f"{path} is not a readable lock ({err}); run `doit lock`.") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise Ac295Error(f"{path} is not a lock of this version; run `doit lock`.")
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
