"""Images in the engine: ``docker build``, ``docker import``, tags, and a build's context files.

Functions take plain values (paths, references, labels) and return image ids. Build and
import streams are read here: an error chunk (``boundary.stream_error``) fails the operation
even though its HTTP request succeeded.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

from ..atomic import write_text
from ..errors import BuildError
from .boundary import stream_error, translated
from .client import Engine
from .evidence import Keep
from .refs import repository_tag as parse_repository_tag
from ..progress import Progress, plain



def ignore_patterns(context: Path) -> list[str]:
    """The patterns of a context's ``.dockerignore`` (comments and blank lines dropped)."""
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return []
    return [line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def context_files(context: Path, dockerfile: Path, memo: Path | None = None) -> list[str]:
    """Context files sent to the engine, relative to the context, sorted.

    Uses docker-py's own ``.dockerignore`` matcher, the one that builds the context tarball,
    so a digest over these files sees exactly what the build sees. Importing the SDK costs
    a null build more than all its checks, so with ``memo`` (a file) the selection is kept
    and reused while the context's listing, the ignore rules and the Dockerfile's name are
    the same: the matcher is a pure function of those three.
    """
    patterns = ignore_patterns(context)
    relative = os.path.relpath(dockerfile, context)
    key = ""
    if memo is not None:
        listing = _listing(context)
        key = hashlib.sha256(json.dumps([patterns, relative, listing]).encode()).hexdigest()
        try:
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if saved.get("key") == key and isinstance(saved.get("files"), list):
                return [str(f) for f in saved["files"]]
        except (OSError, ValueError, AttributeError):
            pass  # no memo, or an unreadable one: compute
    from docker.utils.build import exclude_paths  # the SDK's own .dockerignore matcher

    paths = exclude_paths(str(context), patterns, dockerfile=relative)
    files = sorted(p for p in paths if not (context / p).is_dir() or (context / p).is_symlink())
    if memo is not None:
        try:
            write_text(memo, json.dumps({"key": key, "files": files}))
        except OSError:
            pass  # a memo that cannot be written only costs the next run the import
    return files


def _listing(context: Path) -> list[str]:
    """Every path under ``context`` (folders end with "/"), sorted; links are not followed."""
    found = []
    for folder, dirs, names in os.walk(context):
        rel = os.path.relpath(folder, context)
        prefix = "" if rel == "." else rel + "/"
        found += [prefix + d + "/" for d in dirs] + [prefix + n for n in names]
    return sorted(found)


@translated
def build(engine: Engine, context: Path, dockerfile: Path, tag: str, args: Mapping[str, str],
          labels: Mapping[str, str], task: str, progress: Progress, nocache: bool = False,
          keep: Keep | None = None, shown: Path | None = None) -> str:
    """``docker build`` an image under ``tag`` with ``labels``; return its id.

    Intermediate containers are always removed (``forcerm``); nothing is pulled; ``nocache``
    builds every layer anew (a clean build). The output is shown as it comes (``progress``);
    the error names the step that failed rather than repeating it. The layers a failed build
    made are removed, so that failed builds leave no dangling images; with ``keep``, the last
    layer it reached (the state before the instruction that failed) is kept as the step's
    evidence first, and the layers under it stay with it. ``shown``: the Dockerfile messages
    name (the exercise's, when the context was assembled elsewhere).

    Raises:
        BuildError: the build failed, with the step and the Dockerfile (file:line for a parse
            error).
    """
    import docker.errors

    step, image_id, made = "", None, []  # type: tuple[str, str | None, list[str]]
    last = ""  # the newest layer the build reached, made or from the cache
    printed = False
    stream = engine.client.api.build(
        path=str(context), dockerfile=os.path.relpath(dockerfile, context), tag=tag,
        buildargs=dict(args), labels=dict(labels), rm=True, forcerm=True, pull=False,
        nocache=nocache, decode=True)
    try:
        cached = False
        for chunk in stream:
            detail = stream_error(chunk)
            if detail is not None:
                if keep is not None and last:
                    keep.layer(engine, last, f"the build failed at {step or 'its start'}",
                               failed_command(step), progress)
                _remove_layers(engine, made)
                raise BuildError(_failure(tag, task, shown or dockerfile, step,
                                          plain(detail.strip()), printed))
            for line in chunk.get("stream", "").splitlines():
                if not line.strip():
                    continue
                progress(line)
                printed = True
                if line.startswith("Step "):  # a FROM names an image the build did not make
                    step, cached = line, line.split(" : ", 1)[-1].upper().startswith("FROM ")
                elif line.strip() == "---> Using cache":
                    cached = True
                elif match := _LAYER.match(line):
                    last = match.group(1)
                    if not cached:
                        made.append(last)
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    except docker.errors.APIError as err:
        detail = plain(str(err.explanation or err))
        raise BuildError(_failure(tag, task, shown or dockerfile, step, detail, printed)
                         ) from None
    info = engine.refresh(tag)
    if info is None or (image_id and info.id != image_id):
        raise BuildError(f"the build of {tag} reported success but the engine has no such "
                         "image; rerun, and check `docker images`.")
    return info.id


_LAYER = re.compile(r"^ ---> ([0-9a-f]{12,64})$")
_RUN = re.compile(r"^Step \d+/\d+ : RUN\s+(.*)$", re.IGNORECASE | re.DOTALL)


def failed_command(step: str) -> list[str] | None:
    """The command of a build's ``Step N/M : RUN ...`` line, as the builder runs it (the
    exec form's words, or the shell form under ``/bin/sh -c``); None for another
    instruction."""
    match = _RUN.match(step.strip())
    if not match:
        return None
    text = match.group(1).strip()
    if text.startswith("["):
        try:
            words = json.loads(text)
        except ValueError:
            words = None
        if isinstance(words, list) and words and all(isinstance(w, str) for w in words):
            return words
    return ["/bin/sh", "-c", text]
_PARSE_ERROR = re.compile(r"dockerfile parse error line (\d+): (.*)", re.IGNORECASE)


def _failure(tag: str, task: str, dockerfile: Path, step: str, detail: str,
             printed: bool = True) -> str:
    """One paragraph for a failed build: where it failed, why, and what to fix (and that
    its output is above, when it printed any)."""
    parse = _PARSE_ERROR.search(detail)
    if parse:
        return (f"{dockerfile}:{parse.group(1)}: {parse.group(2)} (building {tag} for "
                f"{task}). Fix that line of the Dockerfile, then rerun.")
    where = f" at {step.split(' : ')[0].lower()} ({step.split(' : ', 1)[-1]})" if step else ""
    detail = re.sub(r"^The command '.*' returned", "the command returned", detail, flags=re.S)
    above = " Its output is above." if printed else ""
    return (f"building {tag} for {task} failed{where}: {detail}.{above} Fix the "
            f"Dockerfile {dockerfile} or the files it uses, then rerun.")


def _remove_layers(engine: Engine, made: list[str]) -> None:
    """Remove the images a failed build made (newest first); keep any that is in use."""
    import docker.errors

    for image_id in reversed(made):
        try:
            engine.client.api.remove_image(image_id)
        except docker.errors.APIError:
            continue


@translated
def import_tarball(engine: Engine, tarball: Path, tag: str, changes: Sequence[str],
                   task: str, progress: Progress, epoch: int = 0) -> str:
    """``docker import`` a root file system tarball under ``tag``, with a fixed config;
    return the new image's id.

    ``changes`` are Dockerfile instructions applied on import (CMD, ENV, LABEL). ``docker
    import`` writes the time of the import into the image's config, so two imports of the
    same tarball get two ids; the config is written again here with ``epoch`` as its time
    (``fixed_config``), and the same tarball and changes give the same image id anywhere.
    """
    import docker.errors

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
        detail = stream_error(chunk) if isinstance(chunk, dict) else None
        if detail is not None:
            raise BuildError(f"importing {tarball} for {task} failed: {detail}")
    info = engine.refresh(tag)
    if info is None:
        raise BuildError(f"the import of {tarball} reported success but the engine has "
                         f"no image {tag}.")
    return fixed_config(engine, info.id, tag, epoch)


def epoch_time(epoch: int) -> str:
    """An RFC 3339 time for an image config, from seconds since the epoch."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


@translated
def fixed_config(engine: Engine, image_id: str, tag: str, epoch: int) -> str:
    """The imported image again, with a config that holds no time but ``epoch``; its id.

    The config (runtime settings as the import wrote them, the layer, one history entry)
    is loaded as a ``docker load`` archive that names the layer without holding it: the
    engine has the layer already, and reads a layer from the archive only when it lacks it.
    The first image is removed (its layer stays, shared with the new one).
    """
    attrs = engine.client.api.inspect_image(image_id)
    when = epoch_time(epoch)
    diff_ids = list((attrs.get("RootFS") or {}).get("Layers") or [])
    config = {"architecture": attrs.get("Architecture") or "amd64",
              "os": attrs.get("Os") or "linux", "created": when,
              "config": attrs.get("Config") or {},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": when, "comment": "Imported from -"}]}
    raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    name = hashlib.sha256(raw).hexdigest()
    layers = [f"{n}/layer.tar" for n in range(len(diff_ids))]
    manifest = json.dumps([{"Config": f"{name}.json", "RepoTags": [tag], "Layers": layers}])
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in ((f"{name}.json", raw), ("manifest.json", manifest.encode())):
            entry = tarfile.TarInfo(member)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    for chunk in engine.client.api.load_image(archive.getvalue()):
        detail = stream_error(chunk) if isinstance(chunk, dict) else None
        if detail is not None:
            raise BuildError(f"writing the fixed config of {tag} failed: {detail}")
    info = engine.refresh(tag)
    if info is None or info.id != f"sha256:{name}":
        raise BuildError(f"writing the fixed config of {tag} did not give the image "
                         f"sha256:{name[:12]}; rerun, and check `docker images`.")
    if image_id != info.id:
        import docker.errors

        try:
            engine.client.api.remove_image(image_id)
        except docker.errors.APIError:
            pass  # another tag holds it: not ours to remove
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


@translated
def untag(engine: Engine, ref: str) -> None:
    """Remove tag ``ref`` (the image stays while other names or children hold it); a tag
    that is gone already is fine."""
    import docker.errors

    try:
        engine.client.api.remove_image(ref)
    except docker.errors.NotFound:
        pass


@translated
def tags(engine: Engine, prefix: str) -> list[str]:
    """Every tag in the engine that starts with ``prefix`` (a registry's "host:port/")."""
    return [tag for image in engine.client.api.images() for tag in image.get("RepoTags") or []
            if tag.startswith(prefix)]


def names_registry(ref: str) -> bool:
    """True if a reference names its registry (host.name/..., host:port/..., localhost/...)."""
    first, slash, _ = ref.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


@translated
def save(engine: Engine, image_id: str, dest: Path) -> None:
    """``docker save`` one image into ``dest``, written whole beside it, then renamed."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    try:
        with open(part, "wb") as out:
            for chunk in engine.client.api.get_image(image_id, chunk_size=1 << 20):
                out.write(chunk)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


@dataclass(frozen=True)
class ImageConfig:
    """What a container of the image starts with, and when the image was made."""

    env: list[str]  # "KEY=value"
    workdir: str  # "" for /
    created: str  # RFC 3339, as the engine says it


@translated
def config(engine: Engine, image_id: str) -> ImageConfig:
    """The image's environment, working folder and creation time."""
    attrs = engine.client.api.inspect_image(image_id)
    found = attrs.get("Config") or {}
    return ImageConfig(env=list(found.get("Env") or []), workdir=found.get("WorkingDir") or "",
                       created=str(attrs.get("Created") or ""))


@translated
def export_tree(engine: Engine, image_id: str, out: BinaryIO) -> None:
    """Write the image's file system, flattened, to ``out`` as a tar stream (``docker create``
    and ``docker export``; the container, which never starts, is removed again)."""
    api = engine.client.api
    container = api.create_container(image_id, command=["/bin/true"], entrypoint=[],
                                     network_disabled=True)["Id"]
    try:
        for chunk in api.export(container, chunk_size=1 << 20):
            out.write(chunk)
    finally:
        api.remove_container(container, force=True)


@translated
def remove(engine: Engine, image_id: str) -> None:
    """Remove an image this project made and no longer wants (and its tags)."""
    import docker.errors

    try:
        engine.client.api.remove_image(image_id, force=True)
    except docker.errors.NotFound:
        pass
    engine.forget_images()
