"""What the kinds that make or use images share: identities, reuse, content tags, records.

What a step knows of an image it makes lives in two places:

- its record (``records/<exercise>/<step>.json``, a doit target and the next step's file_dep):
  the content digest, the same on any machine that makes the same image;
- its notes (``local/<exercise>/<step>.json``): the inputs digest it was made from, which its
  own up-to-date check compares, and the engine's image id, a fact about this engine only.

``ac295.lock`` keeps the content digest and the inputs digest.

An image made from inputs carries its inputs digest as a label and a content tag
``<repository>:in-<12 hex>``. Before making one, a step looks for an image it made from the
same inputs in the engine (label, confirmed by the image's own newest history entry), then in
the registry under the content tag (one HEAD request, then a pull). That is what lets a clone
with no records, or a revert, skip the work; ``reuse: no`` turns it off (clean builds).

A reproducible builder (``builder: buildah``) puts no label in the image (a comment in a
Dockerfile would change its bytes): it pushes the image to the registry under its content
tag, and that is where a step finds it again. Its notes hold the registry reference and
digest too, which the lock keeps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..digests import json_digest
from ..engine import content, images, registry
from ..engine.builders import Made
from ..engine.refs import repository_tag
from ..errors import Ac295Error, RecordMissing
from . import records
from .actions import Recording, Verdict, fresh, stale
from ..progress import progress
from .runtime import Runtime


def image_facts(rt: Runtime, task: str, user: str) -> tuple[dict[str, Any], str]:
    """(the record, the engine's image id) of the image step ``task``, which ``user`` needs.

    Raises:
        RecordMissing: that step has not run (or ran on another machine only).
    """
    path = rt.record_path(task)
    found = records.read(path)
    local = records.read(records.local_of(path)) or {}
    if found is None or not local.get("image_id"):
        raise RecordMissing(f"{user}: step '{task.split(':', 1)[1]}' has no record; run it "
                            "first.")
    return found, str(local["image_id"])


def identity(rt: Runtime, ref: str, producer: Path | None) -> str | None:
    """The content identity of an image a step reads, or None if the engine lacks it.

    Args:
        ref: the reference as the Dockerfile or the spec names it.
        producer: the record of the step that makes it, if one does.
    """
    if producer is not None:
        made = records.read(producer)
        if made is None or not made.get("content_digest"):
            raise RecordMissing(f"{ref} is made by a step that has not run yet ({producer}).")
        return str(made["content_digest"])
    image_id = rt.engine.image_id(ref)
    if image_id is None:
        return None
    info = rt.engine.info(image_id)
    # pulled from a registry: its manifest digest is content-addressed
    if info is not None and info.repo_digests:
        pulled = repo_digest(rt, image_id, registry.Reference.parse(ref))
        return "repo:" + (pulled or sorted(d.partition("@")[2] for d in info.repo_digests)[0])
    return content_of(rt, image_id)


def content_of(rt: Runtime, image_id: str) -> str:
    """The content digest of an image in the engine (see ``tasks.engine.content``)."""
    return content.content_digest(rt.engine, image_id, rt.layer_cache)


def made_image_uptodate(rt: Runtime, task: str, tag: str, digest: str | None,
                        parts: dict[str, str] | None = None) -> Verdict:
    """The shared rule: same inputs digest as recorded, and the engine still has the image.

    A tag is a name, not a result: when only the tag is missing (the registry variable
    changed, or `docker rmi` of the name alone), it is put back here. A tag that names
    another image means someone moved it: the step runs again.
    """
    path = rt.record_path(task)
    record = records.read(path)
    local = records.read(records.local_of(path)) or {}
    if record is None or not local:
        return stale("it has no record (never ran, or its last run failed)")
    if digest is None:
        return stale("an image it reads is not in the engine")
    if digest != local.get("inputs_digest"):
        return stale(changed_inputs(local.get("inputs"), parts)
                     or f"its inputs changed ({str(local.get('inputs_digest'))[7:19]} -> "
                        f"{digest[7:19]})")
    image_id = local.get("image_id")
    if local.get("registry_digest"):  # a reproducible builder's: builds read it from there
        served = rt.served_digest(str(local.get("registry")))
        if served != local["registry_digest"]:
            return stale(f"the registry no longer serves it under {local.get('registry')}")
    named = rt.engine.image_id(tag) if image_id else None
    if named is not None and named == image_id:  # one lookup when all is well
        return fresh(f"inputs {digest[7:19]} as recorded; {tag} is in the engine")
    if not image_id or rt.engine.image_id(image_id) is None:
        return stale("the engine no longer has its image")
    if named is None:
        images.tag(rt.engine, image_id, tag)
        return fresh(f"inputs {digest[7:19]} as recorded; the tag {tag} was put back")
    if named != image_id:
        return stale(f"the tag {tag} now names another image")
    return fresh(f"inputs {digest[7:19]} as recorded; {tag} is in the engine")


def changed_inputs(before: Any, now: dict[str, str] | None) -> str:
    """Which inputs differ, by name, with short digests: "Question.py changed (5f2a1c ->
    9b0d3e)"; "" when the parts are not known."""
    if not isinstance(before, dict) or now is None:
        return ""
    said = []
    for name in sorted(set(before) | set(now)):
        was, is_ = before.get(name), now.get(name)
        if was == is_:
            continue
        if was is None:
            said.append(f"{name} is new")
        elif is_ is None:
            said.append(f"{name} is gone")
        else:
            said.append(f"{name} changed ({_short(was)} -> {_short(is_)})")
    return "; ".join(said[:5]) + (f"; and {len(said) - 5} more" if len(said) > 5 else "")


def _short(value: str) -> str:
    text = value.split(":")[-1]
    return text[:12] if len(text) >= 32 else text


def made_digest(rt: Runtime, digest: str) -> str:
    """An inputs digest as the builder makes it: unchanged under docker; under a reproducible
    builder, with the builder's key (``buildah/vfs@<epoch>``) in it, since that builder makes
    other bytes (other layers, another config) from the same inputs. So a change of builder
    reruns every image step, and an image made by one builder is never reused by the other."""
    key = rt.builder.key()
    return digest if not key else json_digest({"v": 1, "inputs": digest, "builder": key})


def builder_part(rt: Runtime) -> dict[str, str]:
    """The builder as one of a build's input parts, so that `why` can name it."""
    return {"the builder": rt.builder.key() or "docker"}


def make_image(rt: Runtime, task: str, tag: str, digest: str, make: Callable[[], Made],
               recording: Recording) -> str:
    """Reuse an image made from these inputs, or ``make`` it; tag it by content; record it.

    Returns:
        The image id.
    """
    made: Made | None = None
    if rt.config.reuse:
        made = (from_transit(rt, tag, digest) if rt.builder.reproducible
                else _reuse(rt, task, tag, digest))
    made = made or make()
    images.tag(rt.engine, made.image_id, images.content_tag(tag, digest))
    # No tag in the record: renaming the image (hub_user=...) must not rerun its users.
    # The record holds only what the image is: a rebuild from other inputs that makes the same
    # content (a comment in a Dockerfile) leaves it unchanged, and what reads it stays up to
    # date. How it was made, and this engine's id for it (and, from a reproducible builder,
    # where the registry holds it and its digest there), are notes beside it.
    recording.data = {"content_digest": content_of(rt, made.image_id)}
    recording.local = {"inputs_digest": digest, "image_id": made.image_id, **made.notes()}
    return made.image_id


def _reuse(rt: Runtime, task: str, tag: str, digest: str) -> Made | None:
    """An image made from these inputs, in the engine (by its label) or the registry."""
    existing = rt.engine.find_made(digest, task, images.content_tag(tag, digest))
    if existing is not None:
        progress(f"{tag}: the engine has image {existing.id[:19]} made from the same "
                 "inputs; tagging it instead of making it again")
        images.tag(rt.engine, existing.id, tag)
        return Made(existing.id)
    pulled = pull_by_content(rt, tag, digest)
    return Made(pulled) if pulled else None


def from_transit(rt: Runtime, tag: str, digest: str) -> Made | None:
    """Under a reproducible builder: the image the registry holds under the content tag of
    these inputs, pulled by digest (what any machine would build from them)."""
    transit = rt.builder.transit(tag, digest)
    try:
        served = rt.served_digest(transit)
        if served is None:
            return None
        local = rt.local_registry
        if local is not None and registry.Reference.parse(transit).registry == \
                rt.config.registry:
            local.start(progress)
        repository, _ = repository_tag(transit)
        image_id = registry.pull(rt.engine, f"{repository}@{served}", progress)
    except Ac295Error as err:
        progress(f"{transit}: not recovered from the registry ({err}); making it")
        return None
    images.tag(rt.engine, image_id, tag)
    progress(f"{tag}: pulled {served[:19]} ({transit}), made from the same inputs; nothing "
             "to make")
    return Made(image_id, transit, served)


def registry_source(record: Path) -> str:
    """Where a registry holds the image that the step with this record made or pulled, by
    digest (``repository@sha256:...``), from its notes; "" if none does."""
    notes = records.read(records.local_of(record)) or {}
    ref, digest = notes.get("registry") or notes.get("ref"), \
        notes.get("registry_digest") or notes.get("digest")
    if not ref or not digest or not str(digest).startswith("sha256:"):
        return ""
    repository = registry.Reference.parse(str(ref))
    prefix = "" if repository.hub else f"{repository.registry}/"
    return f"{prefix}{repository.repository}@{digest}"


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
    info = rt.engine.info(image_id)
    if info is None or info.made is None or info.made[0] != digest:
        return None
    progress(f"{tag}: pulled {ref}, made elsewhere from the same inputs; nothing to make")
    images.tag(rt.engine, image_id, tag)
    return image_id


def repo_digest(rt: Runtime, image_id: str, ref: registry.Reference) -> str | None:
    """The digest the engine knows for this image in ``ref``'s repository (after a push/pull)."""
    info = rt.engine.info(image_id)
    for found in info.repo_digests if info else []:
        name, _, digest = found.partition("@")
        other = registry.Reference.parse(name)
        if (other.registry, other.repository) == (ref.registry, ref.repository):
            return digest
    return None


def moved(before: str, now: str) -> str:
    """"the registry moved (a -> b): " when two references name different registries."""
    if not before:
        return ""
    old, new = registry.Reference.parse(before).registry, registry.Reference.parse(now).registry
    return f"the registry moved ({old} -> {new}): " if old != new else ""


def throwaway(step: Any, folder: Path) -> str:
    """The name of an image ``repro-check`` makes and removes: one per attempt."""
    return f"localhost/ac295-repro/{step.exercise}-{step.name}:{folder.name}".lower()
