"""What the kinds that make images (build, import, commit) share: reuse, content tags, records.

An image made from inputs carries its inputs digest as a label and a content tag
``<repository>:in-<12 hex>``. Before making one, a step looks for an image it made from the
same inputs in the engine (label, confirmed by the image's own newest history entry), then in
the registry under the content tag (one HEAD request, then a pull). That is what lets a clone
with no records, or a revert, skip the work.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..engine import images, registry
from ..engine.client import LABEL_INPUTS
from ..errors import Ac295Error, RecordMissing
from ..graph import records
from .actions import Recording, Verdict, fresh, progress, stale
from .runtime import Runtime


def image_record(rt: Runtime, task: str, user: str) -> dict[str, Any]:
    """The record of the image step ``task``, which ``user`` needs.

    Raises:
        RecordMissing: that step has not run.
    """
    found = records.read(rt.record_path(task))
    if found is None:
        raise RecordMissing(f"{user}: step '{task.split(':', 1)[1]}' has no record; run it "
                            "first.")
    return found


def made_image_uptodate(rt: Runtime, task: str, tag: str, digest: str | None) -> Verdict:
    """The shared rule: same inputs digest as recorded, and the tag still names that image."""
    record = records.read(rt.record_path(task))
    if record is None:
        return stale("it has no record (never ran, or its last run failed)")
    if digest is None:
        return stale("a base image is not in the engine")
    if digest != record.get("inputs_digest"):
        return stale(f"its inputs changed ({str(record.get('inputs_digest'))[7:19]} -> "
                     f"{digest[7:19]})")
    if rt.engine.image_id(tag) != record.get("image_id"):
        return stale(f"the engine no longer has its image under {tag}")
    return fresh(f"inputs {digest[7:19]} as recorded; {tag} is in the engine")


def make_image(rt: Runtime, task: str, tag: str, digest: str, make: Callable[[], str],
               recording: Recording) -> str:
    """Reuse an image made from these inputs, or ``make`` it; tag it by content; record it.

    Returns:
        The image id.
    """
    existing = rt.engine.find_made(digest, task)
    if existing is not None:
        progress(f"{tag}: the engine has image {existing.id[:19]} made from the same "
                 "inputs; tagging it instead of making it again")
        images.tag(rt.engine, existing.id, tag)
        image_id = existing.id
    else:
        image_id = pull_by_content(rt, tag, digest) or make()
    images.tag(rt.engine, image_id, images.content_tag(tag, digest))
    # No tag in the record: renaming the image (hub_user=...) must not rerun its users.
    recording.data = {"image_id": image_id, "inputs_digest": digest}
    return image_id


def pull_by_content(rt: Runtime, tag: str, digest: str) -> str | None:
    """Pull the image with these inputs from the registry's content tag, if it is there."""
    if not images.names_registry(tag):
        return None  # a local-only name: no registry to ask
    ref = images.content_tag(tag, digest)
    try:
        if rt.served_digest(ref) is None:
            return None
        local = rt.local_registry
        if local is not None and registry.Reference.parse(ref).registry == rt.config.registry:
            local.start(progress)
        image_id = registry.pull(rt.engine, ref, progress)
    except Ac295Error as err:
        progress(f"{ref}: not recovered from the registry ({err}); making it")
        return None
    info = rt.engine.images().get(image_id)
    if info is None or info.labels.get(LABEL_INPUTS) != digest:
        return None
    progress(f"{tag}: pulled {ref}, made elsewhere from the same inputs; nothing to make")
    images.tag(rt.engine, image_id, tag)
    return image_id


def repo_digest(rt: Runtime, image_id: str, ref: registry.Reference) -> str | None:
    """The digest the engine knows for this image in ``ref``'s repository (after a push/pull)."""
    info = rt.engine.images().get(image_id)
    for found in info.repo_digests if info else []:
        name, _, digest = found.partition("@")
        other = registry.Reference.parse(name)
        if (other.registry, other.repository) == (ref.registry, ref.repository):
            return digest
    return None


def record_of(rt: Runtime, task: str) -> Path:
    """The record path of ``task`` (a shorthand for kinds)."""
    return rt.record_path(task)
