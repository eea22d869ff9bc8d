"""What a container may be given beyond its image, command and environment: an entrypoint, a
working folder, a user, mounts (named volumes, read-only binds) and a health check.

Plain values in, the Docker SDK's keyword arguments out (``create_kwargs``): the one place
that spells them for ``containers.create``, for services and one-shot runs alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_NS = 1_000_000_000


@dataclass(frozen=True)
class Mount:
    """A named volume or a read-only bind at ``target`` in the container.

    Attributes:
        source: the volume's engine name, or (``bind``) an absolute path on this machine.
        target: the absolute path in the container.
        read_only: mounted read-only (binds always are).
        bind: a folder or file of this machine rather than a named volume.
    """

    source: str
    target: str
    read_only: bool = False
    bind: bool = False


@dataclass(frozen=True)
class Health:
    """A health check that Docker runs in the container; ready means "healthy".

    Attributes:
        test: ``("CMD", word, ...)`` or ``("CMD-SHELL", "a shell command")``.
        interval: seconds between checks.
        timeout: seconds one check may take.
        retries: failures in a row (after ``start_period``) that make it unhealthy.
        start_period: seconds during which failures do not count.
    """

    test: tuple[str, ...]
    interval: float = 1
    timeout: float = 5
    retries: int = 30
    start_period: float = 0

    def bound(self) -> int:
        """Seconds after which Docker has said healthy or unhealthy (plus a margin)."""
        return int(self.start_period + (self.retries + 1) * (self.interval + self.timeout)) + 10


@dataclass(frozen=True)
class ContainerOptions:
    """The options of one container; the defaults leave the image's own settings."""

    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    mounts: tuple[Mount, ...] = ()
    health: Health | None = None

    def __bool__(self) -> bool:
        return self != ContainerOptions()

    def create_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``client.containers.create`` for these options."""
        from docker.types import Mount as SdkMount

        kwargs: dict[str, Any] = {}
        if self.entrypoint is not None:
            kwargs["entrypoint"] = list(self.entrypoint)
        if self.working_dir is not None:
            kwargs["working_dir"] = self.working_dir
        if self.user is not None:
            kwargs["user"] = self.user
        if self.mounts:
            kwargs["mounts"] = [SdkMount(m.target, m.source, type="bind" if m.bind else "volume",
                                         read_only=m.read_only or m.bind)
                                for m in self.mounts]
        if self.health is not None:
            h = self.health
            kwargs["healthcheck"] = {"test": list(h.test), "interval": int(h.interval * _NS),
                                     "timeout": int(h.timeout * _NS), "retries": h.retries,
                                     "start_period": int(h.start_period * _NS)}
        return kwargs
