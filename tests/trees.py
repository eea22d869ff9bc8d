"""The tests' own reader of image file trees: what an oracle compares, read without the
project's code (tasks/engine/content.py is what it checks, so it is never used here).

An image's tree is read from ``docker export`` of a container made from it (never started),
or from the layers a registry serves, applied in order (whiteouts remove). Each path is
described by its type, mode, owner, link target and the sha256 of its bytes; times are left
out (a clean build has other times), and so are the files the engine puts into every
container (``/.dockerenv``, ``/etc/hosts``...) and the mount points ``/dev``, ``/proc``,
``/sys``.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
from typing import IO, Any

import requests

#: What `docker create` adds to any container, whatever the image holds there.
CONTAINER_PATHS = (".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab")
MOUNT_POINTS = ("dev", "proc", "sys")
MANIFESTS = ", ".join(("application/vnd.docker.distribution.manifest.v2+json",
                       "application/vnd.oci.image.manifest.v1+json"))

Tree = dict[str, str]


def _name(raw: str) -> str:
    name = raw
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return "" if name == "." else name.rstrip("/")


def _kept(name: str) -> bool:
    top = name.split("/", 1)[0]
    return bool(name) and name not in CONTAINER_PATHS and top not in MOUNT_POINTS


def _apply(tree: Tree, tar: tarfile.TarFile) -> None:
    """Apply one layer (or a whole export) to ``tree``: whiteouts remove, entries replace."""
    contents: dict[str, str] = {}  # sha256 of each regular file of this tar, for hard links
    for member in tar:
        name = _name(member.name)
        folder, _, base = name.rpartition("/")
        if base == ".wh..wh..opq":  # an opaque folder: what lower layers held there goes
            for old in [n for n in tree if n.startswith(folder + "/")]:
                del tree[old]
            continue
        if base.startswith(".wh."):
            gone = (folder + "/" if folder else "") + base[4:]
            for old in [n for n in tree if n == gone or n.startswith(gone + "/")]:
                del tree[old]
            continue
        if not _kept(name):
            continue
        owner = f"{member.uid}:{member.gid} {oct(member.mode & 0o7777)}"
        if member.isdir():
            tree[name] = f"dir {owner}"
        elif member.issym():
            tree[name] = f"link {owner} -> {member.linkname}"
        elif member.islnk():  # a hard link: the bytes of the file it links to
            tree[name] = f"file {owner} {contents.get(_name(member.linkname), '?')}"
        elif member.isfile():
            handle = tar.extractfile(member)
            digest = hashlib.sha256(handle.read() if handle else b"").hexdigest()
            contents[name] = digest
            tree[name] = f"file {owner} {digest}"
        else:
            tree[name] = f"special {owner} {member.type!r} {member.devmajor}:{member.devminor}"


def read_tar(stream: IO[bytes], tree: Tree | None = None) -> Tree:
    """The tree of one tar stream (compressed or not), applied onto ``tree``."""
    tree = {} if tree is None else tree
    with tarfile.open(fileobj=stream, mode="r|*") as tar:
        _apply(tree, tar)
    return tree


class _Chunks(io.RawIOBase):
    """A file over an iterator of byte chunks (docker-py's export stream)."""

    def __init__(self, chunks: Any) -> None:
        self.chunks, self.rest = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.rest:
            try:
                self.rest = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.rest))
        buffer[:size], self.rest = self.rest[:size], self.rest[size:]
        return size


_EXPORTED: dict[str, Tree] = {}


def exported(client: Any, image: str) -> Tree:
    """The tree of ``image`` (a reference or id) as ``docker export`` gives it (kept by
    image id: an image id names one tree)."""
    image_id = client.api.inspect_image(image)["Id"]
    if image_id not in _EXPORTED:
        container = client.api.create_container(image_id, command=["true"],
                                                labels={"org.ac295.test": "tree"})
        try:
            stream = client.api.export(container["Id"], chunk_size=1 << 20)
            _EXPORTED[image_id] = read_tar(io.BufferedReader(_Chunks(stream), 1 << 20))
        finally:
            client.api.remove_container(container["Id"], force=True)
    return dict(_EXPORTED[image_id])


def config(client: Any, image: str) -> dict[str, Any]:
    """What an image runs with (the parts of its config a container sees), by the test."""
    found = client.api.inspect_image(image)["Config"] or {}
    return {key: found.get(key) for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User")}


def pulled(registry: str, ref: str) -> Tree:
    """The tree of ``registry/repository:tag`` as the registry serves it: its manifest's
    layers fetched over HTTP, each checked against its digest, applied in order."""
    repository, _, tag = ref.removeprefix(registry + "/").rpartition(":")
    base = f"http://{registry}/v2/{repository}"
    manifest = requests.get(f"{base}/manifests/{tag}", headers={"Accept": MANIFESTS},
                            timeout=30)
    manifest.raise_for_status()
    tree: Tree = {}
    for layer in manifest.json()["layers"]:
        blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=300)
        blob.raise_for_status()
        algorithm, _, want = layer["digest"].partition(":")
        assert hashlib.new(algorithm, blob.content).hexdigest() == want, layer["digest"]
        read_tar(io.BytesIO(blob.content), tree)
    return tree


def served_config(registry: str, ref: str) -> str:
    """The config digest of the manifest the registry serves for ``ref``: the image id an
    engine that pulls it gets."""
    repository, _, tag = ref.removeprefix(registry + "/").rpartition(":")
    manifest = requests.get(f"http://{registry}/v2/{repository}/manifests/{tag}",
                            headers={"Accept": MANIFESTS}, timeout=30)
    manifest.raise_for_status()
    return str(manifest.json()["config"]["digest"])


def digest(tree: Tree) -> str:
    """One sha256 for a whole tree (for figures and cache keys)."""
    return hashlib.sha256("\n".join(f"{k}\t{v}" for k, v in sorted(tree.items())).encode()
                          ).hexdigest()


def difference(one: Tree, two: Tree, limit: int = 8) -> list[str]:
    """The paths where two trees differ (at most ``limit``), for assertion messages."""
    names = sorted(n for n in set(one) | set(two) if one.get(n) != two.get(n))
    return [f"{n}: {one.get(n)} != {two.get(n)}" for n in names[:limit]]
