"""What every parsed step has, and the exercise that holds them.

Each step kind (``tasks.kinds``) subclasses ``Step`` with its own frozen fields; the parser
(``tasks.dsl.exercises``) is the only code that makes them. Values are final: variables are
expanded and paths are absolute.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Mapping

from ..errors import Where

#: What a step can be asked to provide to another step of its exercise ("image", "network",
#: ...): a word that kinds declare in ``Kind.provides``, and name in ``Kind.role_words``.
Role = str


@dataclass(frozen=True)
class LocalRef:
    """A step's reference to another step of the same exercise, by name.

    ``role`` says what the referenced step must provide (an image, a network, a lock), so that
    a wrong reference is reported as such, with suggestions among the steps that provide it.
    """

    key: str  # the key that holds the reference (`run`, `network`, `from_lock`, ...)
    step: str
    role: Role


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step has: its name, exercise, doc line, explicit ordering and location."""

    kind: ClassVar[str] = ""
    exercise: str
    name: str
    doc: str
    after: tuple[str, ...]  # full task names "exercise:step"
    where: Where
    lines: Mapping[str, int] = field(default_factory=dict)  # line of each key, for errors

    @property
    def task(self) -> str:
        """The doit task name, ``exercise:step``."""
        return f"{self.exercise}:{self.name}"

    def at(self, key: str) -> Where:
        """Where one of this step's keys is written."""
        return Where(self.where.file, self.lines.get(key, self.where.line),
                     f"{self.where.key}.{key}")


@dataclass(frozen=True)
class Exercise:
    """One exercise folder: its doc line and its steps in file order."""

    name: str
    doc: str
    folder: Path
    file: Path
    steps: Mapping[str, Step] = field(default_factory=dict)


def normalize_ref(ref: str) -> str:
    """The form Docker compares references in: ``:latest`` added, ``docker.io/library/`` dropped."""
    name, _, digest = ref.partition("@")
    if digest and ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]  # name:tag@digest: the digest decides, as in Docker
    if not digest and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/",
                   "index.docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return f"{name}@{digest}" if digest else name
