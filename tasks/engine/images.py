"""Images in the engine: ``docker build``, ``docker import``, tags, and a build's context files.

Functions take plain values (paths, references, labels) and return image ids. Build and
import streams are read here: an ``error`` chunk fails the operation even though its HTTP
request succeeded.
"""
from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import Callable, Mapping, Sequence

import docker.errors
from docker.utils import parse_repository_tag
from docker.utils.build import exclude_paths

from ..errors import BuildError, translated
from .client import Engine

Progress = Callable[[str], None]


def ignore_patterns(context: Path) -> list[str]:
    """The patterns of a context's ``.dockerignore`` (comments and blank lines dropped)."""
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return []
    return [line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def context_files(context: Path, dockerfile: Path) -> list[str]:
    """Context files sent to the engine, relative to the context, sorted.

    Uses docker-py's own ``.dockerignore`` matcher, the one that builds the context tarball,
    so a digest over these files sees exactly what the build sees.
    """
    relative = os.path.relpath(dockerfile, context)
    paths = exclude_paths(str(context), ignore_patterns(context), dockerfile=relative)
    return sorted(p for p in paths if not (context / p).is_dir() or (context / p).is_symlink())


@translated
def build(engine: Engine, context: Path, dockerfile: Path, tag: str, args: Mapping[str, str],
          labels: Mapping[str, str], task: str, progress: Progress, nocache: bool = False) -> str:
    """``docker build`` an image under ``tag`` with ``labels``; return its id.

    Intermediate containers are always removed (``forcerm``); nothing is pulled; ``nocache``
    builds every layer anew (a clean build).

    Raises:
        BuildError: the build failed; the message holds the last lines of its output.
    """
    tail: deque[str] = deque(maxlen=15)
    image_id = None
    stream = engine.client.api.build(
        path=str(context), dockerfile=os.path.relpath(dockerfile, context), tag=tag,
        buildargs=dict(args), labels=dict(labels), rm=True, forcerm=True, pull=False,
        nocache=nocache, decode=True)
    try:
        for chunk in stream:
            if "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                lines = "\n".join(tail)
                raise BuildError(f"building {tag} for {task} failed: {detail.strip()}"
                                 f"\nLast build output:\n{lines}\nFix the Dockerfile "
                                 f"{dockerfile} or the files it uses, then rerun.")
            text = chunk.get("stream", "")
            for line in text.splitlines():
                if line.strip():
                    tail.append(line)
                    progress(line)
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except docker.errors.APIError as err:
        raise BuildError(f"building {tag} for {task} failed: {err.explanation or err}") from None
    info = engine.refresh(tag)
    if info is None or (image_id and info.id != image_id):
        raise BuildError(f"the build of {tag} reported success but the engine has no such "
                         "image; rerun, and check `docker images`.")
    return info.id


@translated
def import_tarball(engine: Engine, tarball: Path, tag: str, changes: Sequence[str],
                   task: str, progress: Progress) -> str:
    """``docker import`` a root file system tarball under ``tag``; return the new image's id.

    ``changes`` are Dockerfile instructions applied on import (CMD, ENV, LABEL).
    """
    repo, tag_name = parse_repository_tag(tag)
    size = tarball.stat().st_size
    progress(f"importing {tarball} ({size / 1e6:.0f} MB) as {tag}")
    try:
        result = engine.client.api.import_image_from_file(
            str(tarball), repository=repo, tag=tag_name or "latest", changes=list(changes))
    except docker.errors.APIError as err:
        raise BuildError(f"importing {tarball} for {task} failed: "
                         f"{err.explanation or err}") from None
    for line in str(result).splitlines():
        try:
            chunk = json.loads(line)
        except ValueError:
            continue
        if isinstance(chunk, dict) and "error" in chunk:
            raise BuildError(f"importing {tarball} for {task} failed: {chunk['error']}")
    info = engine.refresh(tag)
    if info is None:
        raise BuildError(f"the import of {tarball} reported success but the engine has "
                         f"no image {tag}.")
    return info.id


def content_tag(ref: str, digest: str) -> str:
    """The content-addressed tag of an image made from inputs: ``<repository>:in-<12 hex>``.

    Pushed beside the image's own tag, it lets a clone with no records find the image in the
    registry by its inputs alone (one HEAD request).
    """
    repo, _ = parse_repository_tag(ref)
    return f"{repo}:in-{digest.split(':', 1)[-1][:12]}"


@translated
def tag(engine: Engine, image_id: str, ref: str) -> None:
    """Point tag ``ref`` at ``image_id``."""
    repo, tag_name = parse_repository_tag(ref)
    engine.client.api.tag(image_id, repo, tag_name or "latest", force=True)
    engine.refresh(ref)


def names_registry(ref: str) -> bool:
    """True if a reference names its registry (host.name/..., host:port/..., localhost/...)."""
    first, slash, _ = ref.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")
