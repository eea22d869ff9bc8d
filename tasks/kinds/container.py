"""What a container step (a one-shot ``run:`` or a service) may set beyond its image, command
and environment: ``entrypoint``, ``working_dir``, ``user`` and ``volumes``; and a service's
``healthcheck``, which its readiness waits for.

``volumes:`` entries are ``SOURCE:TARGET`` (``:ro`` for read-only): SOURCE is a ``volume:``
step of the exercise (a named volume the run makes and removes), or a path starting with
``.`` or ``/`` inside the exercise folder, mounted read-only (a bind). The compose kind
fills the same fields from a compose file (``tasks.kinds.compose``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..engine.options import ContainerOptions, Health, Mount
from ..errors import SpecError, Where
from ..dsl.fields import Fields
from ..dsl.model import LocalRef, Step
from .base import Key, TaskContext

KEYS = (
    Key("entrypoint", "command", "replaces the image's ENTRYPOINT: a list of words, or one "
        "string split as a shell would"),
    Key("working_dir", "string", "the folder the command runs in (absolute)"),
    Key("user", "string", "the user (and group) it runs as: a name or uid[:gid]"),
    Key("volumes", "strings", "SOURCE:TARGET[:ro] entries: a volume step of this exercise, or "
        "a path (./conf) inside the exercise folder, mounted read-only"),
)
HEALTHCHECK = Key("healthcheck", "object", "a check Docker runs in the container; the service "
                  "is ready when it passes", keys=(
                      Key("test", "command", "the check: a list of words, or one shell "
                          "command (run by /bin/sh -c)"),
                      Key("interval", "integer", "seconds between checks (default 1)"),
                      Key("timeout", "integer", "seconds one check may take (default 5)"),
                      Key("retries", "integer", "failures in a row that make it unhealthy "
                          "(default 30)"),
                      Key("start_period", "integer", "seconds during which failures do not "
                          "count (default 0)"),
                  ))
#: The keys above, by name (the fields of RunStep and ServiceStep that they fill).
NAMES = tuple(k.name for k in KEYS)


@dataclass(frozen=True)
class Use:
    """One ``volumes:`` entry: a volume step's volume, or a path mounted read-only."""

    target: str
    volume: str | None = None  # a volume step of the exercise, by name
    path: Path | None = None  # a file or folder of the exercise (a bind, read-only)
    read_only: bool = False


def absolute_target(target: str, where: Where) -> str:
    """A mount point, which must be an absolute path in the container."""
    if not target.startswith("/") or "\0" in target:
        raise SpecError(where, f"the mount point '{target}' is not an absolute path in the "
                        "container.", "Write it as /path/in/the/container.")
    return target


def bind_path(text: str, base: Path, folder: Path, where: Where) -> Path:
    """A bind's source: an existing path inside the exercise folder (relative to ``base``)."""
    path = (base / text).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise SpecError(where, f"'{text}' leads outside the exercise folder ({path}): only "
                        "files of the exercise may be mounted.",
                        "Copy what the container needs into the exercise folder, or into "
                        "its image.")
    if not path.exists():
        raise SpecError(where, f"nothing to mount at {path}.", "Add the file or folder, or "
                        "fix the path.")
    return path


def parse_use(entry: str, f: Fields, folder: Path) -> Use:
    """One hand-written ``volumes:`` entry."""
    where = f.where("volumes")
    parts = entry.split(":")
    mode = parts.pop() if len(parts) == 3 else "rw"
    if len(parts) != 2 or mode not in ("ro", "rw") or not parts[0]:
        raise SpecError(where, f"'{entry}' is not SOURCE:TARGET or SOURCE:TARGET:ro.",
                        "SOURCE is a volume step of this exercise or a path like ./conf.")
    source, target = parts[0], absolute_target(parts[1], where)
    if source.startswith((".", "/")):
        if len(entry.split(":")) == 3 and mode == "rw":
            raise SpecError(where, f"'{entry}': a path of the exercise is mounted read-only.",
                            "Write ':ro', or use a volume step for data the container writes.")
        return Use(target=target, path=bind_path(source, folder, folder, where), read_only=True)
    return Use(target=target, volume=source, read_only=mode == "ro")


def parse(f: Fields, folder: Path) -> dict[str, Any]:
    """The fields of ``KEYS`` from a step's mapping."""
    uses = tuple(parse_use(entry, f, folder) for entry in f.texts("volumes"))
    targets = [u.target for u in uses]
    if len(set(targets)) != len(targets):
        raise SpecError(f.where("volumes"), "two volumes are mounted at one place.")
    working_dir = f.text("working_dir")
    if working_dir is not None:
        absolute_target(working_dir, f.where("working_dir"))
    return {"entrypoint": f.command("entrypoint"), "working_dir": working_dir,
            "user": f.text("user"), "volumes": uses}


def parse_health(f: Fields) -> Health | None:
    """A service's ``healthcheck:``."""
    h = f.sub("healthcheck", tuple(k.name for k in HEALTHCHECK.keys))
    if h is None:
        return None
    raw = h.node.get("test")
    if isinstance(raw, str):
        test: tuple[str, ...] = ("CMD-SHELL", h.required("test"))
    else:
        words = h.command("test")
        if not words:
            raise SpecError(f.where("healthcheck"), "a health check needs a 'test' command.")
        test = words if words[0] in ("CMD", "CMD-SHELL") else ("CMD", *words)
    retries = h.value("retries", int)
    if retries is not None and retries <= 0:
        raise SpecError(h.where("retries"), "must be a positive number.")
    start = h.value("start_period", int)
    if start is not None and start < 0:
        raise SpecError(h.where("start_period"), "must be 0 or more seconds.")
    return Health(test=test, interval=h.positive("interval") or 1,
                  timeout=h.positive("timeout") or 5, retries=retries or 30,
                  start_period=start or 0)


def refs(step: Step) -> list[LocalRef]:
    """The volume steps a container step mounts."""
    return [LocalRef("volumes", u.volume, "volume") for u in getattr(step, "volumes", ())
            if u.volume is not None]


def binds(step: Step) -> tuple[Path, ...]:
    """The paths a container step mounts (the spec cache notices when one goes away)."""
    return tuple(u.path for u in getattr(step, "volumes", ()) if u.path is not None)


def options(step: Any, ctx: TaskContext, health: Health | None = None) -> ContainerOptions:
    """The engine's options for a container step: volume steps by their engine names."""
    mounts = tuple(Mount(source=str(u.path), target=u.target, read_only=True, bind=True)
                   if u.path is not None else
                   Mount(source=getattr(ctx.step(str(u.volume)), "volume"), target=u.target,
                         read_only=u.read_only)
                   for u in step.volumes)
    return ContainerOptions(entrypoint=step.entrypoint, working_dir=step.working_dir,
                            user=step.user, mounts=mounts, health=health)


def used(step: Any, health: Health | None = None) -> list[str]:
    """The keys of ``KEYS`` (and a health check) that a step sets, for the places that cannot
    honour them (rootless runs, cluster mode)."""
    found: Mapping[str, Any] = {"entrypoint": step.entrypoint, "working_dir": step.working_dir,
                                "user": step.user, "volumes": step.volumes,
                                "healthcheck": health}
    return [name for name, value in found.items() if value not in (None, ())]
