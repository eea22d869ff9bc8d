"""Builders: the two ways this project makes an image from a context, chosen by ``builder``.

A builder is a small back end (as snakemake's executors are): the image kinds ask it to build
a Dockerfile, import a root file system tarball, or commit commands run in an image, and to
push what it made. Both leave the image in the engine, where runs, saves and content digests
find it.

- ``docker`` (the default, as the lecture teaches): the engine's legacy builder, ``docker
  import`` and ``docker commit``; the engine pushes. Its images hold build times, so two
  builds of the same inputs are the same content (tree and runtime config) but not the same
  bytes: registry digests differ between machines. The one exception is an import, whose
  config is written here with a fixed time (``images.import_tarball``).
- ``buildah`` (``tasks.engine.buildah``): every image made with ``--timestamp`` from
  ``SOURCE_DATE_EPOCH``, pushed by buildah to the registry and pulled from there by the
  engine. Same inputs, same bytes: the registry digest names the content on every machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from ..dsl.config import BUILDERS
from ..progress import Progress
from . import containers, images, registry
from .client import Engine
from .evidence import Keep

__all__ = ["BUILDERS", "Builder", "Docker", "Made"]


@dataclass(frozen=True)
class Made:
    """An image a builder made, in the engine, and where a reproducible builder pushed it.

    Attributes:
        image_id: the engine's id of the image.
        registry_ref: the reference the builder pushed it as ("" for docker).
        registry_digest: the manifest digest the registry serves for it ("" for docker).
    """

    image_id: str
    registry_ref: str = ""
    registry_digest: str = ""

    def notes(self) -> dict[str, str]:
        """What a step's notes keep of it: the registry reference and digest, if any."""
        if not self.registry_digest:
            return {}
        return {"registry": self.registry_ref, "registry_digest": self.registry_digest}


@dataclass(frozen=True)
class BuildRequest:
    """A ``build:`` step's image, as plain values.

    Attributes:
        bases: every image the Dockerfile reads (FROM), by reference, and where a builder
            that does not read the engine gets it: ``repository@sha256:...`` in a registry.
        transit: the reference a builder that hands images over through the registry pushes
            to (the content tag, in a registry).
        keep: what to keep of a failed build (``evidence.Keep``; the docker builder's last
            layer), or None.
        shown: the Dockerfile messages name, when the context was assembled elsewhere.
    """

    context: Path
    dockerfile: Path
    tag: str
    args: Mapping[str, str]
    labels: Mapping[str, str]
    task: str
    nocache: bool = False
    bases: Mapping[str, str] = field(default_factory=dict)
    transit: str = ""
    keep: Keep | None = None
    shown: Path | None = None


@dataclass(frozen=True)
class ImportRequest:
    """An ``import:`` step's image: a root file system tarball and its config changes."""

    tarball: Path
    tag: str
    changes: Sequence[str]
    labels: Mapping[str, str]
    task: str
    transit: str = ""


@dataclass(frozen=True)
class CommitRequest:
    """A ``commit:`` step's image: commands run in a container from another image.

    Attributes:
        source_id: the source image in the engine.
        source: the same image in a registry (``repository@sha256:...``), or "".
        container_labels: labels of the container the docker builder runs the commands in.
        fix: what to tell the user when a command fails.
        keep: what to keep of a failed commit (the docker builder's container), or None.
    """

    source_id: str
    source: str
    commands: Sequence[str]
    tag: str
    timeout: int
    container_labels: Mapping[str, str]
    labels: Mapping[str, str]
    task: str
    fix: str
    transit: str = ""
    keep: Keep | None = None


class Builder(Protocol):
    """What the image kinds ask of a builder (``docker`` or ``buildah``)."""

    name: str
    #: True if the same inputs make the same bytes: the builder then hands its images to the
    #: engine through the registry, and the registry digest is a content identity.
    reproducible: bool

    def key(self) -> str:
        """What the builder adds to every inputs digest ("" for docker, which adds nothing)."""
        ...

    def transit(self, tag: str, inputs: str) -> str:
        """The registry reference an image made from ``inputs`` for ``tag`` is pushed to."""
        ...

    def build(self, request: BuildRequest, progress: Progress, export: Path | None = None
              ) -> Made:
        """Build a Dockerfile.

        Args:
            export: instead of handing the image to the engine, write it into this folder
                and keep nothing else (``repro-check``): an OCI layout (buildah, whose digest
                is the registry's) or a ``docker save`` archive ``image.tar`` (docker, whose
                digest is the image id). ``Made.registry_ref`` is then the folder.
        """
        ...

    def import_rootfs(self, request: ImportRequest, progress: Progress,
                      export: Path | None = None) -> Made:
        """Make an image of a root file system tarball (``export``: as for ``build``)."""
        ...

    def commit(self, request: CommitRequest, progress: Progress, export: Path | None = None
               ) -> Made:
        """Run commands in a container from an image and keep the result as an image
        (``export``: as for ``build``)."""
        ...

    def push(self, image_id: str, ref: str, source: str, progress: Progress
             ) -> tuple[str, int]:
        """Push an image as ``ref`` (the engine's tag ``ref`` names it already); return the
        registry's digest and the layers uploaded (-1: not known).

        Args:
            source: the image in a registry (``repository@sha256:...``) if it is in one.
        """
        ...


@dataclass
class Docker:
    """The engine's own builder, import, commit and push."""

    engine: Engine
    epoch: int = 0
    name: str = "docker"
    reproducible: bool = False

    def key(self) -> str:
        return ""

    def transit(self, tag: str, inputs: str) -> str:
        return ""

    def build(self, request: BuildRequest, progress: Progress, export: Path | None = None
              ) -> Made:
        return self._made(images.build(
            self.engine, request.context, request.dockerfile, request.tag, request.args,
            request.labels, request.task, progress, nocache=request.nocache, keep=request.keep,
            shown=request.shown), export)

    def import_rootfs(self, request: ImportRequest, progress: Progress,
                      export: Path | None = None) -> Made:
        return self._made(images.import_tarball(
            self.engine, request.tarball, request.tag,
            list(request.changes) + [f'LABEL {k}="{v}"' for k, v in request.labels.items()],
            request.task, progress, epoch=self.epoch), export)

    def commit(self, request: CommitRequest, progress: Progress, export: Path | None = None
               ) -> Made:
        return self._made(containers.commit(
            self.engine, request.source_id, request.commands, request.tag, request.timeout,
            request.container_labels, request.labels, request.task, request.fix, progress,
            keep=request.keep), export)

    def _made(self, image_id: str, export: Path | None) -> Made:
        """The image in the engine, or (``export``) saved into that folder and removed."""
        if export is None:
            return Made(image_id)
        images.save(self.engine, image_id, export / "image.tar")
        images.remove(self.engine, image_id)
        return Made("", str(export), image_id)

    def push(self, image_id: str, ref: str, source: str, progress: Progress
             ) -> tuple[str, int]:
        return registry.push(self.engine, ref, progress)  # the caller tagged it ``ref``
