"""``push:``: an image step's result pushed to a registry, up to date by one HEAD request.

Its record holds the pushed image's content identity (what a pull of it will get); the
reference, the registry's digest and the image id are local facts. Its content tag goes too
(the same manifest, no blob moves), so that a clone with no records finds the image by its
inputs alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..engine import images, registry
from ..engine.refs import repository_tag
from . import records
from ..dsl.fields import Fields
from ..dsl.model import Exercise, LocalRef, Step
from .actions import Check, Verdict, action, fresh, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Session, ShellRequest, TaskContext
from .shells import instead
from .reuse import image_facts, moved, registry_source, repo_digest
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class PushStep(Step):
    """Push an image step's result to a registry."""

    kind: ClassVar[str] = "push"
    image: str
    tag: str | None  # None: the image step's own reference

    @property
    def source(self) -> str:
        return f"{self.exercise}:{self.image}"


def push_ref(step: PushStep, exercise: Exercise) -> str:
    """The reference a push step writes: its own ``tag`` or its image step's."""
    return step.tag or getattr(exercise.steps[step.image], "image_ref")


def uptodate(rt: Runtime, step: PushStep, ref: str) -> Verdict:
    """Up to date iff the registry serves, under the tag, the digest pushed for this image."""
    path = rt.record_path(step.task)
    record = records.read(path)
    pushed = records.read(records.local_of(path)) or {}
    image = records.read(records.local_of(rt.record_path(step.source))) or {}
    if record is None or not pushed:
        return stale("it has no record (never ran, or its last run failed)")
    if pushed.get("image_id") != image.get("image_id"):
        return stale(f"{step.source} made another image since the last push")
    served = rt.served_digest(ref)
    if served != pushed.get("digest"):
        return stale(moved(str(pushed.get("ref", "")), ref)
                     + f"the registry serves {str(served)[7:19] if served else 'nothing'} under "
                     f"{ref}, not the pushed {str(pushed.get('digest'))[7:19]}")
    return fresh(f"the registry serves the pushed {str(served)[7:19]} under {ref}")


def run(rt: Runtime, step: PushStep, ref: str) -> None:
    """Tag the image as ``ref`` and push it, unless the registry already serves its digest.

    Under a reproducible builder the image is in the registry already (the builder pushed
    it, or it was pulled from there): the push copies that manifest, unchanged, so the tag
    serves the build's own digest.
    """
    with recorded(rt.record_path(step.task), step.task) as recording:
        source, image_id = image_facts(rt, step.source, step.task)
        notes = records.read(records.local_of(rt.record_path(step.source))) or {}
        builder = rt.builder
        origin = registry_source(rt.record_path(step.source)) if builder.reproducible else ""
        if rt.engine.image_id(ref) != image_id:
            images.tag(rt.engine, image_id, ref)
        parsed = registry.Reference.parse(ref)
        served = rt.served_digest(ref)
        wanted = origin.partition("@")[2] if origin else repo_digest(rt, image_id, parsed)
        if served is not None and served == wanted:
            progress(f"{parsed}: the registry already serves {served}; nothing to push")
            digest = served
        else:
            digest, uploaded = builder.push(image_id, ref, origin, progress)
            rt.engine.refresh(image_id)
            progress(f"{parsed}: pushed {digest}" + (f" ({uploaded} layer(s) uploaded)"
                                                     if uploaded >= 0 else ""))
        _push_content_tag(rt, ref, image_id, digest, notes.get("inputs_digest"))
        recording.data = {"content_digest": source.get("content_digest")}
        recording.local = {"ref": ref, "image_id": image_id, "digest": digest}
        if builder.reproducible and origin:
            recording.local["registry_digest"] = digest  # a content identity: in the lock


def _push_content_tag(rt: Runtime, ref: str, image_id: str, digest: str,
                      inputs: str | None) -> None:
    """Push the image's content tag too (no blob moves: same manifest), for fresh clones:
    the manifest copied to the tag inside the registry, or else pushed by the engine."""
    if not inputs:
        return  # a pulled image: no inputs of ours
    content = images.content_tag(ref, inputs)
    if rt.served_digest(content) == digest:
        return
    parsed = registry.Reference.parse(content)
    if not registry.copy_tag(registry.Reference.parse(ref), parsed.tag, digest):
        builder = rt.builder  # the engine pushes it, or (buildah) the manifest is copied
        if not builder.reproducible:
            images.tag(rt.engine, image_id, content)
        builder.push(image_id, content, f"{repository_tag(ref)[0]}@{digest}"
                     if builder.reproducible else "", progress)
    progress(f"{parsed}: content tag pushed")


class Push(Kind[PushStep]):
    name = "push"
    shape = "house"
    keyword = Key("push", "string", "the image step whose result is pushed", required=True)
    keys = (Key("tag", "string", "the reference to push as (default: the image step's)"),)
    summary = "push an image step's result to a registry (docker push)"
    lock_fields = ("content_digest",)
    lock_if_noted = ("registry_digest",)
    lock_doc = ("`content_digest` of the pushed image; with `builder: buildah`, "
                "`registry_digest` too")

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> PushStep:
        return PushStep(**common, image=f.required("push"), tag=f.optional_image_ref("tag"))

    def local_refs(self, step: PushStep) -> list[LocalRef]:
        return [LocalRef("push", step.image, "image")]

    def makes(self, step: PushStep, exercise: Exercise) -> Makes:
        return Makes(pushes=(push_ref(step, exercise),))

    def task(self, step: PushStep, ctx: TaskContext) -> dict[str, Any]:
        ref = push_ref(step, ctx.exercise)
        return {"actions": [action(run, ctx.rt, step, ref)],
                "uptodate": [Check("registry digest under the tag", uptodate, ctx.rt, step,
                                   ref)]}

    def shell(self, step: PushStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return instead(step.task, f"pushes {step.source}'s image", [step.source],
                       "the image's")
