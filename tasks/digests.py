"""Content digests: the one way this project hashes files, texts and small JSON values.

Identities are ``sha256:<hex>`` of content, never of places or times (see docs/reruns.md).

A file's digest is kept for the life of the process, keyed by its (size, mtime, ctime,
inode): a check and the action after it, or the rounds of ``doit watch``, hash an unchanged
file once. The ctime moves on every write and cannot be set back; a file written in the
last two seconds is not kept (times move in clock ticks: a second write in the same tick
could keep the key, git's "racy clean" case).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20
#: A file changed this recently (ns) may change again within the same clock tick.
RACY_NS = 2_000_000_000
_known: dict[str, tuple[tuple[int, int, int, int], str]] = {}  # path -> (stat key, hex)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks (rootfs tarballs are hundreds of MB)."""
    st = os.stat(path)
    key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    name = str(path)
    found = _known.get(name)
    if found is not None and found[0] == key:
        return found[1]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    hexdigest = digest.hexdigest()
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS:
        _known[name] = (key, hexdigest)
    else:
        _known.pop(name, None)
    return hexdigest


def text_sha256(text: str) -> str:
    """``sha256:<hex>`` of a text's UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def json_digest(value: Any) -> str:
    """``sha256:<hex>`` of a JSON value in canonical form (sorted keys, no spaces)."""
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()
