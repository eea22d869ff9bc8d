"""Images: the inputs digest of a build, ``docker build``, ``docker import``, tagging.

The inputs digest is what makes a build incremental: it covers the Dockerfile, every context
file that ``.dockerignore`` lets through (content and executable bit), the build args and the
id of each base image. It is stored in the step's record and as a label on the image, so the
state can be recovered from the engine when the records are gone.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from collections import deque
from pathlib import Path
from typing import Callable

import docker.errors
from docker.utils import parse_repository_tag
from docker.utils.build import exclude_paths

from .engine import LABEL_INPUTS, LABEL_TASK, Engine
from .errors import BuildError
from .model import BuildStep, ImportStep

Progress = Callable[[str], None]
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks (rootfs tarballs are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def context_files(step: BuildStep) -> list[str]:
    """Context files sent to the engine, relative to the context, sorted.

    Uses docker-py's own ``.dockerignore`` matcher, the one that builds the context tarball,
    so the digest sees exactly what the build sees.
    """
    ignore = step.context / ".dockerignore"
    patterns: list[str] = []
    if ignore.is_file():
        patterns = [line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()
                    if line.strip() and not line.strip().startswith("#")]
    dockerfile = os.path.relpath(step.dockerfile, step.context)
    paths = exclude_paths(str(step.context), patterns, dockerfile=dockerfile)
    return sorted(p for p in paths if not (step.context / p).is_dir()
                  or (step.context / p).is_symlink())


def inputs_digest(step: BuildStep, engine: Engine) -> str | None:
    """The build's inputs digest, or None when a base image is not in the engine yet.

    Raises:
        BuildError: a context file cannot be read (permissions, a FIFO, bad .dockerignore).
    """
    try:
        return _inputs_digest(step, engine)
    except (OSError, UnicodeDecodeError) as err:
        raise BuildError(f"{step.task}: cannot read the build context {step.context}: {err}. "
                         "Fix the file or list it in .dockerignore.") from None


def _inputs_digest(step: BuildStep, engine: Engine) -> str | None:
    digest = hashlib.sha256()
    base_ids = []
    for base in step.bases:
        base_id = engine.image_id(base)
        if base_id is None:
            return None
        base_ids.append(base_id)
    header = {"v": 1, "dockerfile": os.path.relpath(step.dockerfile, step.context),
              "args": dict(sorted(step.args.items())), "bases": base_ids}
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(step.dockerfile.read_bytes())
    for rel in context_files(step):
        path = step.context / rel
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            content = ("link:" + os.readlink(path)).encode()
        elif not stat.S_ISREG(info.st_mode):
            raise OSError(f"{rel} is not a regular file")
        else:
            content = file_sha256(path).encode()
        executable = bool(info.st_mode & stat.S_IXUSR)
        digest.update(f"\0{rel}\0{int(executable)}\0".encode() + content)
    return "sha256:" + digest.hexdigest()


def build(step: BuildStep, engine: Engine, digest: str, progress: Progress) -> str:
    """``docker build`` the step's image, label it with its inputs digest, return its id.

    Reads the build stream itself: an ``error`` chunk fails the build even though the HTTP
    request succeeded. Intermediate containers are always removed (``forcerm``).

    Raises:
        BuildError: the build failed; the message holds the last lines of its output.
    """
    tail: deque[str] = deque(maxlen=15)
    image_id = None
    stream = engine.client.api.build(
        path=str(step.context), dockerfile=os.path.relpath(step.dockerfile, step.context),
        tag=step.tag, buildargs=dict(step.args), labels={LABEL_INPUTS: digest,
                                                         LABEL_TASK: step.task},
        rm=True, forcerm=True, pull=False, decode=True)
    try:
        for chunk in stream:
            if "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                lines = "\n".join(tail)
                raise BuildError(f"building {step.tag} for {step.task} failed: {detail.strip()}"
                                 f"\nLast build output:\n{lines}\nFix the Dockerfile "
                                 f"{step.dockerfile} or the files it uses, then rerun.")
            text = chunk.get("stream", "")
            for line in text.splitlines():
                if line.strip():
                    tail.append(line)
                    progress(line)
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except docker.errors.APIError as err:
        raise BuildError(f"building {step.tag} for {step.task} failed: {err.explanation or err}"
                         ) from None
    info = engine.refresh(step.tag)
    if info is None or (image_id and info.id != image_id):
        raise BuildError(f"the build of {step.tag} reported success but the engine has no such "
                         "image; rerun, and check `docker images`.")
    return info.id


def recipe_digest(step: ImportStep) -> str:
    """Digest of an import's recipe: its commands, its deps' contents and the changes."""
    deps = {str(d.name): file_sha256(d) for d in step.deps}
    payload = json.dumps({"v": 1, "recipe": list(step.recipe_key), "deps": deps,
                          "changes": list(step.changes)}, sort_keys=True)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def import_digest(step: ImportStep, cached: dict | None) -> str:
    """Digest of the tarball and the import changes; reuses a cached tarball hash by stat.

    With a recipe, the recipe's digest instead (see ``ImportStep``).
    """
    if step.recipe:
        return recipe_digest(step)
    info = step.tarball.stat()
    key = [info.st_size, info.st_mtime_ns, info.st_ino]
    if cached and cached.get("stat") == key and cached.get("tarball_sha256"):
        tar_hash = cached["tarball_sha256"]
    else:
        tar_hash = file_sha256(step.tarball)
    payload = json.dumps({"v": 1, "tar": tar_hash, "changes": list(step.changes)})
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def tarball_cache(step: ImportStep) -> dict:
    """What `import_digest` may reuse next time: the tarball's stat and hash."""
    info = step.tarball.stat()
    return {"stat": [info.st_size, info.st_mtime_ns, info.st_ino],
            "tarball_sha256": file_sha256(step.tarball)}


def import_tarball(step: ImportStep, engine: Engine, digest: str, progress: Progress) -> str:
    """``docker import`` the tarball under the step's tag; return the new image's id."""
    repo, tag = parse_repository_tag(step.tag)
    size = step.tarball.stat().st_size
    progress(f"importing {step.tarball} ({size / 1e6:.0f} MB) as {step.tag}")
    changes = list(step.changes) + [f"LABEL {LABEL_INPUTS}={digest}",
                                    f"LABEL {LABEL_TASK}={step.task}"]
    try:
        result = engine.client.api.import_image_from_file(
            str(step.tarball), repository=repo, tag=tag or "latest", changes=changes)
    except docker.errors.APIError as err:
        raise BuildError(f"importing {step.tarball} for {step.task} failed: "
                         f"{err.explanation or err}") from None
    for line in str(result).splitlines():
        try:
            chunk = json.loads(line)
        except ValueError:
            continue
        if isinstance(chunk, dict) and "error" in chunk:
            raise BuildError(f"importing {step.tarball} for {step.task} failed: "
                             f"{chunk['error']}")
    info = engine.refresh(step.tag)
    if info is None:
        raise BuildError(f"the import of {step.tarball} reported success but the engine has "
                         f"no image {step.tag}.")
    return info.id


def content_tag(ref: str, digest: str) -> str:
    """The content-addressed tag of an image made from inputs: ``<repository>:in-<12 hex>``.

    Pushed beside the image's own tag, it lets a clone with no records find the image in the
    registry by its inputs alone (one HEAD request).
    """
    repo, _ = parse_repository_tag(ref)
    return f"{repo}:in-{digest.split(':', 1)[-1][:12]}"


def tag(engine: Engine, image_id: str, ref: str) -> None:
    """Point tag ``ref`` at ``image_id``."""
    repo, tag_name = parse_repository_tag(ref)
    engine.client.api.tag(image_id, repo, tag_name or "latest", force=True)
    engine.refresh(ref)


def commit_digest(source_id: str, commands: tuple[str, ...]) -> str:
    """Inputs digest of a commit step: the source image and the commands run in it."""
    payload = json.dumps({"v": 1, "source": source_id, "commands": list(commands)})
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()
