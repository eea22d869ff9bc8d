"""Content identity of images: a digest of what they hold and how they run, never of when.

The legacy builder gives two builds of the same inputs two image ids (the config holds
creation times). What two machines can compare is the image's content:

- each layer's file tree: paths, types, modes, owners, link targets, device numbers and file
  contents; no timestamps; whiteouts as Docker's tar format writes them;
- the runtime config: Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, and the labels
  other than this project's own.

A debootstrapped root file system is not bit-reproducible (caches, dates), so a layer that a
recipe-identified import made is identified by its recipe and package manifest instead: the
import puts that identity on the image as the label ``org.ac295.rootfs``, which images built
FROM it inherit, and it stands for their bottom layer.

Layer trees are read from the engine's overlay2 folders when the engine is local (a few
milliseconds for the small layers the exercises add), or else from ``docker save``; either
way each tree is hashed once per layer (diff id) and kept in a cache file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterable, Iterator

from ..atomic import write_text
from ..digests import json_digest
from ..errors import EngineError
from .boundary import translated
from .client import Engine

if TYPE_CHECKING:
    import tarfile

#: The identity of an image's bottom layer when a recipe made it (recipe + packages).
LABEL_ROOTFS = "org.ac295.rootfs"
#: The package manifest (name=version, comma-separated) of a recipe-made root file system.
LABEL_MANIFEST = "org.ac295.manifest"
PROJECT_LABELS = "org.ac295."
CONFIG_KEYS = ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "ExposedPorts")
_CHUNK = 1 << 20
Entry = tuple[str, str, str]  # (path, kind, details)


class LayerCache:
    """Tree digests by layer diff id, kept in a JSON file (content-addressed: never stale)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.trees: dict[str, str] = {}
        if path is not None:
            try:
                loaded = json.loads(path.read_text())
                self.trees = {str(k): str(v) for k, v in loaded.items()}
            except (OSError, ValueError, AttributeError):
                self.trees = {}  # missing or corrupt: start again

    def save(self) -> None:
        if self.path is None:
            return
        try:
            write_text(self.path, json.dumps(self.trees, sort_keys=True) + "\n")
        except OSError:
            pass  # a cache: losing it costs time, not correctness


def _normal(path: str) -> str:
    """A tar member's path as the walk of a folder gives it: no "./", no slashes at the ends."""
    while path.startswith("./"):
        path = path[2:]
    path = path.strip("/")
    return "" if path == "." else path


def _whiteout(path: str) -> Entry | None:
    """The entry for Docker's whiteout files (``.wh.name``, ``.wh..wh..opq``), else None."""
    folder, _, name = path.rpartition("/")
    if name == ".wh..wh..opq":
        return (folder, "opaque", "")
    if name.startswith(".wh."):
        return (f"{folder}/{name[4:]}" if folder else name[4:], "whiteout", "")
    return None


def _stream_sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while block := handle.read(_CHUNK):
        digest.update(block)
    return digest.hexdigest()


def tree_digest(entries: Iterable[Entry]) -> str:
    """``sha256:`` of a layer's entries, sorted by path (the order of a walk or a tar differs)."""
    digest = hashlib.sha256()
    for path, kind, details in sorted(set(entries)):
        digest.update(f"{path}\0{kind}\0{details}\n".encode("utf-8", "surrogateescape"))
    return "sha256:" + digest.hexdigest()


def tar_entries(tar: tarfile.TarFile) -> Iterator[Entry]:
    """The entries of a layer tar, read as a stream (hard links resolved to their contents)."""
    contents: dict[str, str] = {}
    for member in tar:
        path = _normal(member.name)
        if not path:
            continue
        white = _whiteout(path)
        if white is not None:
            yield white
            continue
        owner = f"{member.mode & 0o7777:o} {member.uid}:{member.gid}"
        if member.isdir():
            yield (path, "dir", owner)
        elif member.issym():
            yield (path, "symlink", f"{owner} {member.linkname}")
        elif member.islnk():
            yield (path, "file", f"{owner} {contents.get(_normal(member.linkname), '?')}")
        elif member.isfile():
            handle = tar.extractfile(member)
            sha = _stream_sha256(handle) if handle is not None else ""
            contents[path] = f"{member.size} {sha}"
            yield (path, "file", f"{owner} {contents[path]}")
        elif member.ischr() or member.isblk():
            kind = "char" if member.ischr() else "block"
            yield (path, kind, f"{owner} {member.devmajor},{member.devminor}")
        elif member.isfifo():
            yield (path, "fifo", owner)


def dir_entries(root: Path) -> Iterator[Entry]:
    """The entries of an overlay2 layer folder, in the form ``tar_entries`` gives them."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(folder) / name
            path = str(full.relative_to(root))
            info = full.lstat()
            owner = f"{info.st_mode & 0o7777:o} {info.st_uid}:{info.st_gid}"
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                yield (path, "whiteout", "")  # overlayfs' whiteout: a 0/0 character device
            elif stat.S_ISDIR(info.st_mode):
                yield (path, "dir", owner)
                if _opaque(full):
                    yield (path, "opaque", "")
            elif stat.S_ISLNK(info.st_mode):
                yield (path, "symlink", f"{owner} {os.readlink(full)}")
            elif stat.S_ISREG(info.st_mode):
                with full.open("rb") as handle:
                    yield (path, "file", f"{owner} {info.st_size} {_stream_sha256(handle)}")
            elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                kind = "char" if stat.S_ISCHR(info.st_mode) else "block"
                yield (path, kind, f"{owner} {os.major(info.st_rdev)},{os.minor(info.st_rdev)}")
            elif stat.S_ISFIFO(info.st_mode):
                yield (path, "fifo", owner)


def _opaque(folder: Path) -> bool:
    for attribute in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(folder, attribute) == b"y":
                return True
        except OSError:
            continue
    return False


def config_part(config: dict[str, Any]) -> dict[str, Any]:
    """The runtime config that content identity covers (the project's own labels left out)."""
    part = {key: config.get(key) for key in CONFIG_KEYS}
    part["Labels"] = {k: v for k, v in sorted((config.get("Labels") or {}).items())
                      if not k.startswith(PROJECT_LABELS)}
    return part


def _overlay_dirs(attrs: dict[str, Any]) -> list[Path] | None:
    """The layer folders of a local overlay2 image, bottom first, or None if not readable."""
    driver = attrs.get("GraphDriver") or {}
    data = driver.get("Data") or {}
    if driver.get("Name") != "overlay2" or not data.get("UpperDir"):
        return None
    top_first = [data["UpperDir"]] + [d for d in (data.get("LowerDir") or "").split(":") if d]
    dirs = [Path(d) for d in reversed(top_first)]
    return dirs if all(d.is_dir() for d in dirs) else None


@translated
def _saved_trees(engine: Engine, image_id: str) -> dict[str, str]:
    """Tree digests of every layer of an image, by diff id, from ``docker save``."""
    import tarfile  # only when layers are read from `docker save`

    trees: dict[str, str] = {}
    stream = io.BufferedReader(_Chunks(engine.client.api.get_image(image_id)), _CHUNK)
    with tarfile.open(fileobj=stream, mode="r|") as outer:
        for member in outer:
            if not member.name.endswith("/layer.tar") or not member.isfile():
                continue
            raw = outer.extractfile(member)
            if raw is None:
                continue
            hashing = _HashingReader(raw)
            with tarfile.open(fileobj=io.BufferedReader(hashing, _CHUNK), mode="r|") as layer:
                tree = tree_digest(tar_entries(layer))
            hashing.drain()
            trees["sha256:" + hashing.digest.hexdigest()] = tree
    return trees


@translated
def content_digest(engine: Engine, image_id: str, cache: LayerCache,
                   local_dirs: bool = True) -> str:
    """The content identity of an image in the engine (see the module's docstring).

    Args:
        engine: the engine holding the image.
        image_id: the image.
        cache: tree digests already known, by diff id (updated and saved).
        local_dirs: read overlay2 folders when the engine is on this machine.

    Raises:
        EngineError: the image is gone, or a layer could not be read.
    """
    attrs = engine.client.api.inspect_image(image_id)
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    diff_ids = list((attrs.get("RootFS") or {}).get("Layers") or [])
    parts: list[str] = []
    wanted = [d for n, d in enumerate(diff_ids)
              if not (n == 0 and labels.get(LABEL_ROOTFS)) and d not in cache.trees]
    if wanted:
        dirs = _overlay_dirs(attrs) if local_dirs and engine.is_local else None
        if dirs is not None and len(dirs) == len(diff_ids):
            for diff_id, folder in zip(diff_ids, dirs):
                if diff_id in wanted:
                    cache.trees[diff_id] = tree_digest(dir_entries(folder))
        else:
            cache.trees.update(_saved_trees(engine, image_id))
        cache.save()
    for n, diff_id in enumerate(diff_ids):
        if n == 0 and labels.get(LABEL_ROOTFS):
            parts.append(f"rootfs:{labels[LABEL_ROOTFS]}")
        elif diff_id in cache.trees:
            parts.append(cache.trees[diff_id])
        else:
            raise EngineError(f"the layer {diff_id[:19]} of image {image_id[:19]} could not be "
                              "read from the engine.")
    return json_digest({"v": 1, "config": config_part(config), "layers": parts})


class _Chunks(io.RawIOBase):
    """A file object over an iterator of byte chunks (docker-py's ``get_image`` stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.buffer:
            try:
                self.buffer = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


class _HashingReader(io.RawIOBase):
    """A reader that hashes what passes through it (a layer tar's sha256 is its diff id)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        data = self.raw.read(len(target))
        self.digest.update(data)
        target[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


def manifest_of(tarball: Path) -> list[str]:
    """``name=version`` of every installed Debian package in a root file system tarball."""
    import tarfile

    with tarfile.open(tarball, mode="r|") as tar:
        for member in tar:
            if _normal(member.name) == "var/lib/dpkg/status" and member.isfile():
                handle = tar.extractfile(member)
                return parse_dpkg_status(handle.read().decode("utf-8", "replace")
                                         if handle else "")
    return []


def parse_dpkg_status(text: str) -> list[str]:
    """``name=version`` of the installed packages in a dpkg status file, sorted."""
    found = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if ":" in line and not line.startswith(" "):
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        if fields.get("Package") and "installed" in fields.get("Status", "").split():
            arch = fields.get("Architecture", "")
            name = fields["Package"] + (f":{arch}" if arch not in ("", "all", _host_arch())
                                        else "")
            found.append(f"{name}={fields.get('Version', '')}")
    return sorted(found)


def _host_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)

