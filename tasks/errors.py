"""The one errors module: every error a user can cause or fix.

Each class carries its context (file and line, step, image, registry) and renders one paragraph
that says what went wrong and what to do next. Task actions turn these into doit ``TaskFailed``
in one place (``tasks.steps.reported``); errors raised while loading specs are turned into
doit's ``InvalidDodoFile`` by ``dodo.py`` so that doit prints them without a traceback.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


class Ac295Error(Exception):
    """Root of every error this project reports to a user."""


@dataclass(frozen=True)
class Where:
    """A place in a YAML file: the file, the 1-based line, and the dotted key path."""

    file: Path
    line: int
    key: str = ""

    def __str__(self) -> str:
        key = f" (key '{self.key}')" if self.key else ""
        return f"{self.file}:{self.line}{key}"


class SpecError(Ac295Error):
    """An exercise.yml or the project config is wrong; raised before anything runs."""

    def __init__(self, where: Where, problem: str, hint: str = "") -> None:
        self.where = where
        self.problem = problem
        self.hint = hint
        super().__init__(f"{where}: {problem}" + (f" {hint}" if hint else ""))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return a ' Did you mean 'x'?' suffix, or a list of the allowed words if none is close."""
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"Did you mean '{close[0]}'?"
    return "Allowed: " + ", ".join(f"'{c}'" for c in choices) + "."


class EngineError(Ac295Error):
    """The Docker Engine is unreachable or refused an operation."""


class BuildError(Ac295Error):
    """An image build or import failed; carries the last lines of the build output."""


class RegistryError(Ac295Error):
    """A registry is unreachable, refused credentials, or reported an error in a push/pull stream."""


class CheckFailed(Ac295Error):
    """A `run` step's container did not print or exit as its `expect:` says."""


class RecipeError(Ac295Error):
    """A `sh` step's recipe failed or did not produce its declared targets."""
