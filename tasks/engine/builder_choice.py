"""Which builder a project uses: the ``builder`` variable's (``docker`` or ``buildah``).

Apart from builders.py, which buildah.py builds on, so that neither imports the other.
"""
from __future__ import annotations

from pathlib import Path

from .builders import Builder, Docker
from .client import Engine


def choose(name: str, engine: Engine, state: Path, registry_host: str, epoch: int) -> Builder:
    """The builder the ``builder`` variable names (checked when the config loads)."""
    if name == "buildah":
        from .buildah import Buildah

        return Buildah(engine=engine, root=state / "buildah", registry=registry_host,
                       epoch=epoch)
    return Docker(engine=engine, epoch=epoch)
