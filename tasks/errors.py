"""Every error this project reports to a user, in one module.

Each class carries its context (file and line, step, image, registry) and renders one paragraph
that says what went wrong and what to do next. Three places turn them into what doit shows:

- errors raised while specs load become doit's ``InvalidDodoFile`` (``dodo.py``): exit 3, no
  traceback;
- errors raised by a task's action become doit's ``TaskFailed`` (``tasks.kinds.actions.Action``);
- exceptions of the libraries underneath (the Docker SDK, requests) are translated into these
  classes once, where the project calls them: ``tasks.engine.boundary`` (``translated``), the
  only code that imports the Docker SDK, as docker-py itself does at its HTTP boundary.
"""
from __future__ import annotations

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
    import difflib  # only a mistake needs it

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"Did you mean '{close[0]}'?"
    return "Allowed: " + ", ".join(f"'{c}'" for c in choices) + "."


class EngineError(Ac295Error):
    """The Docker Engine is unreachable, refused an operation, or lost a container."""


class RunLimit(EngineError):
    """A container passed a limit of its step: it ran past its timeout, or printed more than
    it may. ``reason`` is the short form a grade's table shows ("timed out: ..."), ``node``
    the Swarm node it ran on ("" on the local engine)."""

    def __init__(self, message: str, reason: str, node: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.node = node


class BuildError(Ac295Error):
    """An image build or import failed; carries the last lines of the build output."""


class RegistryError(Ac295Error):
    """A registry is unreachable, refused credentials, or reported an error in a push/pull stream."""


class CheckFailed(Ac295Error):
    """A `run` step's container did not print or exit as its `expect:` says."""


class CommandFailed(Ac295Error):
    """A command the project ran for a step (a commit's commands) exited non-zero."""


class ServiceError(Ac295Error):
    """A service exited or did not become ready within its `ready:` timeout."""


class RecipeError(Ac295Error):
    """A recipe (a `sh` step, an import's `recipe:`) failed or did not make its targets."""


class VenvError(Ac295Error):
    """A virtual environment could not be made, filled or checked."""


class VmError(Ac295Error):
    """A virtual machine could not be made (kernel, initramfs) or booted, or its run failed."""


class RootlessError(Ac295Error):
    """A rootless (podman) container could not be set up or run."""


class LxcError(Ac295Error):
    """An LXC container could not be made from an image, set up or run."""


class ClusterError(Ac295Error):
    """The cluster could not be made, found or used."""


class LockError(Ac295Error):
    """``ac295.lock`` is missing or unreadable, or this machine's results differ from it."""


class ArchiveMoved(LockError):
    """This machine's results differ from ``ac295.lock`` only because Debian's archive moved.

    ``doit verify`` exits 2 for it (doit's code for a task error), 1 for other differences.
    """


class RecordMissing(Ac295Error):
    """A step needs the result of another step that has no record (it has not run)."""


class ShellError(Ac295Error):
    """``doit shell`` cannot open the environment asked for (the step has not run, has no
    command of its own, or there is no terminal)."""
