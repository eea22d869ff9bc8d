"""``expect:``: what a one-shot command must print and return, shared by the kinds that run one.

Pure: an outcome (exit code, stdout, stderr) is compared with regexes, and every unmet
expectation is listed with the output, so one failure says everything.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckFailed
from ..dsl.fields import Fields
from .base import Key

KEY = Key("expect", "object", "checks on the command's outcome", keys=(
    Key("exit_code", "integer", "the exit code it must return (default 0)"),
    Key("stdout", "regexes", "regular expressions its stdout must match (multiline)"),
    Key("stderr", "regexes", "regular expressions its stderr must match (multiline)"),
))


@dataclass(frozen=True, kw_only=True)
class Expect:
    """Checks on a one-shot command: exit code and regexes its output must match."""

    exit_code: int = 0
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()


def parse(f: Fields) -> Expect:
    """Read a step's ``expect:`` (all defaults when it has none)."""
    e = f.sub("expect", tuple(k.name for k in KEY.keys))
    if e is None:
        return Expect()
    exit_code = e.value("exit_code", int)
    return Expect(exit_code=0 if exit_code is None else exit_code,
                  stdout=e.regexes("stdout"), stderr=e.regexes("stderr"))


def problems(expect: Expect, exit_code: int, stdout: str, stderr: str) -> list[str]:
    """Every unmet expectation of an outcome, in words ([] when all are met)."""
    found = []
    if exit_code != expect.exit_code:
        found.append(f"exit code {exit_code}, expected {expect.exit_code}")
    for stream, patterns, text in (("stdout", expect.stdout, stdout),
                                   ("stderr", expect.stderr, stderr)):
        for pattern in patterns:
            if not re.search(pattern, text, re.MULTILINE):
                found.append(f"{stream} does not match /{pattern}/")
    return found


def unmet(expect: Expect, outcome: Any) -> str:
    """An outcome's unmet expectations in one line ("" when all are met): what a failed
    run's kept state says failed (``tasks.kinds.kept``)."""
    return "; ".join(problems(expect, outcome.exit_code, outcome.stdout, outcome.stderr))


def verify(task: str, expect: Expect, exit_code: int, stdout: str, stderr: str,
           spec_file: Path, what: str = "the container") -> None:
    """Compare an outcome with ``expect``.

    Raises:
        CheckFailed: with every unmet expectation and the command's output.
    """
    problems_found = problems(expect, exit_code, stdout, stderr)
    if problems_found:
        raise CheckFailed(
            f"{task}: {what}'s output is not as expected ({'; '.join(problems_found)}). "
            f"Fix the image or the step's 'expect:' in {spec_file}.\n"
            f"--- stdout ---\n{stdout.rstrip()}\n--- stderr ---\n{stderr.rstrip()}")
