"""The Docker Engine as this project sees it: one client, and one listing of images per process.

Uptodate checks ask "does the engine still have image X / what id does tag T have" for every
task; asking the engine each time would cost one API call per task. ``Engine`` lists images once
and keeps the listing current as our own operations change it. Every method that calls the
Docker SDK is ``translated``: its exceptions leave this package as the project's errors.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import docker
import docker.errors

from ..errors import EngineError, translated
from ..spec.model import normalize_ref

#: Labels put on everything this project creates, so it can be found and cleaned up.
LABEL_INPUTS = "org.ac295.inputs-digest"
LABEL_TASK = "org.ac295.task"
#: The state folder of the project copy that made a container or network: two clones
#: sharing one engine (tests, CI) must not take each other's for their own.
LABEL_PROJECT = "org.ac295.project"
#: What every container this project starts gets: never privileged, and bounded, so that a
#: runaway exercise cannot take the machine (2 cores, 24 GiB here) with it.
CONTAINER_LIMITS: dict[str, object] = {"privileged": False, "mem_limit": "2g",
                                       "pids_limit": 1024}


@dataclass
class ImageInfo:
    """What the engine knows of one image."""

    id: str
    tags: list[str]
    repo_digests: list[str]
    labels: dict[str, str]


@dataclass
class Engine:
    """A lazily connected Docker client plus a per-process image listing.

    Args:
        factory: makes the client (``docker.from_env`` in production, a fake in unit tests).
    """

    factory: Callable[[], Any] = docker.from_env
    project: str = ""
    _client: Any = None
    _images: dict[str, ImageInfo] | None = field(default=None, repr=False)

    @property
    def client(self) -> Any:
        """The Docker client, connected and pinged on first use."""
        if self._client is None:
            where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            hint = (f"No Docker Engine answers at {where}. Run script/bootstrap (as root it "
                    "installs Debian's docker.io and starts dockerd), start one yourself, or "
                    "point DOCKER_HOST at one.")
            try:
                client = self.factory()
                client.ping()
            except docker.errors.DockerException as err:
                raise EngineError(f"{hint} ({err})") from None
            except Exception as err:  # requests' connection errors when the socket is gone
                raise EngineError(f"{hint} ({type(err).__name__})") from None
            self._client = client
        return self._client

    @property
    def is_local(self) -> bool:
        """True if the engine runs on this machine (its folders can be read directly)."""
        host = os.environ.get("DOCKER_HOST", "")
        return host == "" or host.startswith("unix://")

    def labels(self, task: str, **extra: str) -> dict[str, str]:
        """Labels for a container or network made for ``task`` by this project copy."""
        return {LABEL_TASK: task, LABEL_PROJECT: self.project, **extra}

    @translated
    def images(self) -> dict[str, ImageInfo]:
        """All images by id, listed once per process."""
        if self._images is None:
            self._images = {}
            for image in self.client.api.images():
                self._remember(image.get("Id", ""), image.get("RepoTags") or [],
                               image.get("RepoDigests") or [], image.get("Labels") or {})
        return self._images

    def _remember(self, image_id: str, tags: list[str], digests: list[str],
                  labels: dict[str, str]) -> None:
        assert self._images is not None
        tags = [t for t in tags if t != "<none>:<none>"]
        digests = [d for d in digests if d != "<none>@<none>"]
        self._images[image_id] = ImageInfo(image_id, tags, digests, labels)

    def image_id(self, ref: str) -> str | None:
        """The id that an image id, a tag or a ``name@sha256:...`` refers to, or None.

        Names are compared the way Docker does (``python`` = ``docker.io/library/python:latest``).
        """
        images = self.images()
        if ref in images:
            return ref
        wanted = normalize_ref(ref)
        by_digest = "@" in ref
        for info in images.values():
            names = info.repo_digests if by_digest else info.tags
            if any(normalize_ref(name) == wanted for name in names):
                return info.id
        return None

    @translated
    def refresh(self, ref: str) -> ImageInfo | None:
        """Re-read one image after we changed it (build, tag, push); drop it if it is gone."""
        images = self.images()
        try:
            attrs = self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            images.pop(ref, None)  # an id that is gone
            for info in images.values():  # or a tag that is gone
                info.tags = [t for t in info.tags if normalize_ref(t) != normalize_ref(ref)]
            return None
        for info in images.values():  # a tag moves: take it off the image that had it
            info.tags = [t for t in info.tags if t not in (attrs.get("RepoTags") or [])]
        self._remember(attrs["Id"], attrs.get("RepoTags") or [], attrs.get("RepoDigests") or [],
                       (attrs.get("Config") or {}).get("Labels") or {})
        return images[attrs["Id"]]

    @translated
    def find_made(self, digest: str, task: str) -> ImageInfo | None:
        """An image that ``task`` made from inputs with this digest, or None.

        Labels are inherited: an image built FROM ours carries our labels too. So the label
        only nominates candidates; the image's own newest history entry must be ours: our
        LABEL instruction (build), our commit comment (commit), or a lone import layer.
        """
        for info in self.images().values():
            if info.labels.get(LABEL_INPUTS) == digest and info.labels.get(LABEL_TASK) == task \
                    and self._made_here(info.id, task):
                return info
        return None

    def _made_here(self, image_id: str, task: str) -> bool:
        history = self.client.api.history(image_id)
        if not history:
            return False
        top = history[0]
        created = top.get("CreatedBy") or ""
        comment = top.get("Comment") or ""
        if comment == f"ac295 {task}":
            return True  # a commit step's docker commit
        if len(history) == 1 and comment.startswith("Imported"):
            return True  # an import: one layer, no parent
        return f"LABEL {LABEL_TASK}={task}" in created or f"LABEL {LABEL_INPUTS}=" in created
