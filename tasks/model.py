"""The typed, frozen form of an exercise spec: one dataclass per step kind.

``tasks.spec`` builds these from YAML (and is the only place that does); everything after it
reads them. Values are final: variables are expanded and paths are absolute.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping

from .errors import Where

StepKind = Literal["venv", "wheelhouse", "build", "import", "pull", "commit", "run", "push",
                   "network", "sh"]
KINDS: tuple[StepKind, ...] = ("venv", "wheelhouse", "build", "import", "pull", "commit", "run",
                               "push", "network", "sh")
#: Kinds whose result is an image that `run`, `commit` and `push` may refer to.
IMAGE_KINDS = ("build", "import", "pull", "commit")
COMMON_KEYS = ("doc", "after")
SERVICE_KEYS = ("detach", "name", "aliases", "ports", "ready")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "venv": ("spec", "from_lock", "lock", "python"),
    "wheelhouse": ("from_lock",),
    "build": ("tag", "dockerfile", "args"),
    "import": ("tag", "changes", "recipe", "deps"),
    "pull": (),
    "commit": ("commands", "tag", "timeout"),
    "run": ("command", "env", "expect", "timeout", "network") + SERVICE_KEYS,
    "push": ("tag",),
    "network": (),
    "sh": ("deps", "targets"),
}
EXPECT_KEYS = ("exit_code", "stdout", "stderr")
READY_KEYS = ("log", "http", "timeout")


@dataclass(frozen=True, kw_only=True)
class Step:
    """What every step has: its name, exercise, doc line, explicit ordering and location."""

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

    @property
    def ephemeral(self) -> bool:
        """True for steps that make nothing lasting (services, networks, phony recipes).

        They keep no record and run every time their task is asked for.
        """
        return False

    def at(self, key: str) -> Where:
        """Where one of this step's keys is written."""
        return Where(self.where.file, self.lines.get(key, self.where.line),
                     f"{self.where.key}.{key}")


@dataclass(frozen=True, kw_only=True)
class VenvStep(Step):
    """A virtual environment made from a spec (requirements.txt, environment.yml) or a lock.

    Exactly one of ``spec`` and ``from_lock`` is set. Its exported lock is a target.
    """

    kind: Literal["venv"] = "venv"
    path: Path
    spec: Path | None
    from_lock: str | None  # name of another venv step of this exercise
    lock: Path
    python: str


@dataclass(frozen=True, kw_only=True)
class WheelhouseStep(Step):
    """A folder of wheels downloaded for a venv step's lock, for offline installs in images."""

    kind: Literal["wheelhouse"] = "wheelhouse"
    folder: Path
    from_lock: str  # name of a venv step of this exercise


@dataclass(frozen=True, kw_only=True)
class BuildStep(Step):
    """Build an image from a Dockerfile (``docker build``)."""

    kind: Literal["build"] = "build"
    context: Path
    dockerfile: Path
    tag: str
    args: Mapping[str, str]
    bases: tuple[str, ...]  # FROM references, args substituted, stages and scratch left out

    @property
    def image_ref(self) -> str:
        return self.tag


@dataclass(frozen=True, kw_only=True)
class ImportStep(Step):
    """Import a root file system tarball as an image (``docker import``).

    With a ``recipe`` (shell commands that make the tarball, with ``deps``) the image is
    identified by the recipe, not by the tarball's bytes: debootstrap is not reproducible, so a
    fresh clone could never match a tarball, but it can match a recipe, and then reuse the
    image from the engine or the registry without running the recipe at all.
    """

    kind: Literal["import"] = "import"
    tarball: Path
    tag: str
    changes: tuple[str, ...]
    recipe: tuple[str, ...] = ()
    deps: tuple[Path, ...] = ()
    #: The recipe as written, {state} and {root} left unexpanded: what identifies the image,
    #: so that clones in other folders find the same one.
    recipe_key: tuple[str, ...] = ()

    @property
    def image_ref(self) -> str:
        return self.tag


@dataclass(frozen=True, kw_only=True)
class PullStep(Step):
    """Pull an image from a registry (``docker pull``)."""

    kind: Literal["pull"] = "pull"
    ref: str

    @property
    def image_ref(self) -> str:
        return self.ref


@dataclass(frozen=True, kw_only=True)
class CommitStep(Step):
    """Run commands in a container from an image step's result and commit it as a new image."""

    kind: Literal["commit"] = "commit"
    image: str  # name of the source image step in the same exercise
    commands: tuple[str, ...]
    tag: str
    timeout: int = 1800

    @property
    def image_ref(self) -> str:
        return self.tag


@dataclass(frozen=True, kw_only=True)
class Expect:
    """Checks on a one-shot container: exit code and regexes its output must match."""

    exit_code: int = 0
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Ready:
    """A service's readiness probe: a log line and/or an HTTP answer, within a timeout."""

    log: str | None = None
    http: str | None = None
    timeout: int = 60


@dataclass(frozen=True, kw_only=True)
class RunStep(Step):
    """Run a container from an image step's result.

    One-shot (default): run to the end and check ``expect``. Service (``detach: true``): start
    it, wait for ``ready``, leave it running until doit's run ends, then remove it.
    """

    kind: Literal["run"] = "run"
    image: str  # name of the image step in the same exercise
    command: tuple[str, ...] | None
    env: Mapping[str, str]
    expect: Expect
    timeout: int
    network: str | None = None  # name of a network step in the same exercise
    detach: bool = False
    container: str | None = None  # container name of a service (spec key `name`)
    aliases: tuple[str, ...] = ()
    ports: Mapping[str, str] = field(default_factory=dict)  # container port -> host port
    ready: Ready | None = None

    @property
    def ephemeral(self) -> bool:
        # On a network it talks to live services whose images are not among its inputs.
        return self.detach or self.network is not None


@dataclass(frozen=True, kw_only=True)
class PushStep(Step):
    """Push an image step's result to a registry."""

    kind: Literal["push"] = "push"
    image: str
    tag: str | None  # None: the image step's own reference


@dataclass(frozen=True, kw_only=True)
class NetworkStep(Step):
    """A user-defined bridge network for this run's services, removed when the run ends."""

    kind: Literal["network"] = "network"
    network: str

    @property
    def ephemeral(self) -> bool:
        return True


@dataclass(frozen=True, kw_only=True)
class ShStep(Step):
    """A Makefile-style recipe: shell commands, with file deps and targets.

    Like a Makefile rule with no target, a recipe without ``targets`` is phony: it runs every
    time (used for checks against running services).
    """

    kind: Literal["sh"] = "sh"
    commands: tuple[str, ...]
    deps: tuple[Path, ...]
    targets: tuple[Path, ...]

    @property
    def ephemeral(self) -> bool:
        return not self.targets


AnyStep = (VenvStep | WheelhouseStep | BuildStep | ImportStep | PullStep | CommitStep | RunStep
           | PushStep | NetworkStep | ShStep)
ImageStep = BuildStep | ImportStep | PullStep | CommitStep


@dataclass(frozen=True)
class Exercise:
    """One exercise folder: its doc line and its steps in file order."""

    name: str
    doc: str
    folder: Path
    file: Path
    steps: Mapping[str, AnyStep] = field(default_factory=dict)


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
