"""The pipeline lock (``ac295.lock``): what every exercise produced, to commit and verify.

It holds only facts that another machine should reproduce, by content: environment locks,
inputs digests, content digests, the base image's package manifest, and the outputs the
checks read (see each kind's ``lock_facts``). Machine-local facts (engine ids, a registry's
digests) stay in the local records. ``doit lock`` writes it; ``doit verify`` compares this
machine's results with it, one line per difference, and tells a difference that comes from
Debian's archive having moved (a package version) from one that comes from the project.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import LockError
from ..atomic import write_text

LOCK_FILE = "ac295.lock"
SCHEMA = 2
Facts = dict[str, dict[str, Any]]


def write(path: Path, facts: Facts) -> None:
    write_text(path, json.dumps({"schema": SCHEMA, "steps": facts}, indent=2,
                                        sort_keys=True) + "\n")


def read(path: Path) -> Facts:
    """The locked facts.

    Raises:
        LockError: the file is missing or is not a lock of this version.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockError(f"no {path.name}: run `doit lock` to write one.") from None
    except (OSError, ValueError) as err:
        raise LockError(f"{path} is not a readable lock ({err}); run `doit lock`.") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise LockError(f"{path} is not a lock of this version; run `doit lock`.")
    return data.get("steps") or {}


def differences(locked: Facts, here: Facts) -> list[str]:
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
                    lines.append(f"{task} {key}: lock {_short(was)}, here {_short(now)}")
    return lines


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: one line per difference, and whether the archive explains all."""

    lines: list[str]
    archive_only: bool


def explain(locked: Facts, here: Facts, upstream: Mapping[str, set[str]]) -> Verdict:
    """Differences, with those caused by a moved Debian archive named as such.

    A step whose package ``manifest`` differs gets a line per package (``python3 3.11.2-6 ->
    3.11.2-6+deb12u1 (the archive changed)``); every other difference of a step downstream of
    it is said to follow from it. The rest are the project's own differences.

    Args:
        locked: the committed lock's facts.
        here: this machine's facts.
        upstream: for each task, every task it depends on, directly or not.
    """
    moved = sorted(t for t in set(locked) & set(here)
                   if locked[t].get("manifest") != here[t].get("manifest")
                   and locked[t].get("manifest") is not None)
    lines: list[str] = []
    archive_only = True
    for task in moved:
        lines += [f"{task}: {line} (the archive changed)"
                  for line in package_changes(locked[task]["manifest"],
                                              here[task].get("manifest") or [])]
    for line in differences(locked, here):
        task = line.split(" ", 1)[0].rstrip(":")
        cause = next((m for m in moved if m == task or m in upstream.get(task, set())), None)
        if cause == task and line.startswith(f"{task} manifest:"):
            continue  # said package by package above
        if cause is not None:
            lines.append(f"{line} (follows from {cause})")
        else:
            lines.append(line)
            archive_only = False
    return Verdict(lines, archive_only and bool(moved))


def package_changes(old: list[str], new: list[str]) -> list[str]:
    """``name old -> new`` (or added, removed) for each package whose version differs."""
    before = dict(p.split("=", 1) for p in old if "=" in p)
    after = dict(p.split("=", 1) for p in new if "=" in p)
    out = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            out.append(f"{name} {before.get(name, '(none)')} -> {after.get(name, '(none)')}")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."
