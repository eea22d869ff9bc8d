"""Two exports of one image, compared byte for byte: which layer differs first, and in it
which files (``repro-check``).

An export is a folder a builder wrote with ``export=`` (``tasks.engine.builders``): an OCI
layout (buildah; its manifest digest is the one a registry would serve) or a ``docker save``
archive ``image.tar`` (docker; its digest is the image id, the config's digest). Layers are
compared by their bytes (the blob's digest); in the first one that differs, every file is
listed with its type, size, mode, owner, modification time and content hash, and the files
whose facts differ are named. Identical layers with different digests can only come from the
config: its differing fields are named then (``created``, ``history[2].created``).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Exported:
    """An image as an export holds it.

    Attributes:
        digest: the OCI manifest's digest (buildah), or the image id (docker).
        config: the image config.
        layers: the layer blobs, bottom first (tar, or gzip-compressed tar).
        blobs: each layer blob's digest.
    """

    digest: str
    config: dict[str, Any]
    layers: list[Path]
    blobs: list[str]


@dataclass(frozen=True)
class FileFacts:
    """What a layer says of one path."""

    kind: str  # file, dir, symlink, hardlink, char, block, fifo
    size: int
    mode: str  # octal, e.g. 0644
    owner: str  # uid:gid
    mtime: int
    sha256: str  # of the content ("" for what has none), or the link's target

    def describe(self) -> str:
        when = datetime.datetime.fromtimestamp(self.mtime, datetime.timezone.utc)
        return (f"{self.kind} {self.size} B mode {self.mode} owner {self.owner} "
                f"mtime {when:%Y-%m-%d %H:%M:%S} {self.sha256[:19] or '-'}")


@dataclass
class Comparison:
    """What differs between two exports of the same step."""

    a: Exported
    b: Exported
    layer: int = 0  # the first layer that differs, 1-based (0: none does)
    files: list[tuple[str, FileFacts | None, FileFacts | None]] = field(default_factory=list)
    config: list[str] = field(default_factory=list)  # config fields that differ

    @property
    def identical(self) -> bool:
        return self.a.digest == self.b.digest


def read(folder: Path) -> Exported:
    """The image a builder exported into ``folder``.

    Raises:
        ValueError: the folder holds no export this module knows.
    """
    if (folder / "index.json").is_file():
        return _read_oci(folder)
    if (folder / "image.tar").is_file():
        return _read_docker(folder)
    raise ValueError(f"{folder} holds no image export (index.json or image.tar)")


def _blob(folder: Path, digest: str) -> Path:
    algorithm, _, hexa = digest.partition(":")
    return folder / "blobs" / algorithm / hexa


def _read_oci(folder: Path) -> Exported:
    index = json.loads((folder / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    manifest = json.loads(_blob(folder, digest).read_text())
    config = json.loads(_blob(folder, manifest["config"]["digest"]).read_text())
    blobs = [layer["digest"] for layer in manifest.get("layers") or []]
    return Exported(digest, config, [_blob(folder, b) for b in blobs], blobs)


def _read_docker(folder: Path) -> Exported:
    unpacked = folder / "archive"
    unpacked.mkdir(exist_ok=True)
    with tarfile.open(folder / "image.tar") as tar:
        for member in tar:
            name = Path(member.name)
            if member.isfile() and not name.is_absolute() and ".." not in name.parts:
                target = unpacked / name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is not None:
                    with target.open("wb") as out:
                        while block := source.read(_CHUNK):
                            out.write(block)
    manifest = json.loads((unpacked / "manifest.json").read_text())[0]
    raw = (unpacked / manifest["Config"]).read_bytes()
    layers = [unpacked / name for name in manifest["Layers"]]
    return Exported("sha256:" + hashlib.sha256(raw).hexdigest(), json.loads(raw), layers,
                    ["sha256:" + _sha256(layer) for layer in layers])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def entries(layer: Path) -> dict[str, FileFacts]:
    """Every path of a layer blob (tar or gzip'd tar) and its facts."""
    found: dict[str, FileFacts] = {}
    with tarfile.open(layer, mode="r:*") as tar:
        for member in tar:
            name = member.name
            while name.startswith("./"):
                name = name[2:]
            found["/" + name.strip("/")] = _facts(tar, member)
    return found


def _facts(tar: tarfile.TarFile, member: tarfile.TarInfo) -> FileFacts:
    content = ""
    if member.isfile():
        handle = tar.extractfile(member)
        digest = hashlib.sha256()
        while handle is not None and (block := handle.read(_CHUNK)):
            digest.update(block)
        content = "sha256:" + digest.hexdigest()
    elif member.issym() or member.islnk():
        content = "-> " + member.linkname
    kinds = {tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink",
             tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}
    return FileFacts(kinds.get(member.type, "file"), member.size, f"{member.mode & 0o7777:04o}",
                     f"{member.uid}:{member.gid}", int(member.mtime), content)


def compare(a: Exported, b: Exported) -> Comparison:
    """Where two exports differ: the first layer and its files, or else the config."""
    found = Comparison(a, b)
    if found.identical:
        return found
    for n, (blob_a, blob_b) in enumerate(zip(a.blobs, b.blobs), start=1):
        if blob_a != blob_b:
            found.layer = n
            one, two = entries(a.layers[n - 1]), entries(b.layers[n - 1])
            found.files = [(path, one.get(path), two.get(path)) for path in sorted(
                set(one) | set(two)) if one.get(path) != two.get(path)]
            break
    else:
        if len(a.blobs) != len(b.blobs):
            found.layer = min(len(a.blobs), len(b.blobs)) + 1
    found.config = list(differences(a.config, b.config))
    return found


def differences(a: Any, b: Any, where: str = "") -> Iterator[str]:
    """The paths of the JSON values that differ (``history[2].created``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from differences(a.get(key), b.get(key), f"{where}.{key}" if where else key)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (one, two) in enumerate(zip(a, b)):
            yield from differences(one, two, f"{where}[{n}]")
    elif a != b:
        yield where or "(the whole config)"
