"""``pull:``: an image from a registry (``docker pull``), up to date by one HEAD request.

Its record holds the pulled image's content identity; the registry's digest and the image id
are local facts. A pull of a reference that another step pushes depends on that push.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..engine import registry
from ..errors import RegistryError
from . import records
from ..dsl.fields import Fields
from ..dsl.model import Exercise, Role, Step
from .actions import Check, Verdict, action, fresh, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Reads, Session, ShellRequest, TaskContext
from . import shells
from .reuse import content_of, moved, repo_digest
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class PullStep(Step):
    """Pull an image from a registry (``docker pull``)."""

    kind: ClassVar[str] = "pull"
    ref: str

    @property
    def image_ref(self) -> str:
        return self.ref


def uptodate(rt: Runtime, step: PullStep) -> Verdict:
    """Up to date iff the registry serves the pulled digest (one HEAD) and the image is here."""
    path = rt.record_path(step.task)
    record = records.read(path)
    pulled = records.read(records.local_of(path)) or {}
    if record is None or not pulled:
        return stale("it has no record (never ran, or its last run failed)")
    if rt.engine.image_id(str(pulled.get("image_id", ""))) is None:
        return stale("the engine no longer has the pulled image")
    served = rt.served_digest(step.ref)
    if served != pulled.get("digest"):
        serves = str(served)[7:19] if served else "nothing"
        return stale(moved(str(pulled.get("ref", "")), step.ref)
                     + f"the registry serves {serves} under {step.ref}, not the pulled "
                     f"{str(pulled.get('digest'))[7:19]}")
    return fresh(f"the registry still serves {str(served)[7:19]} under {step.ref}")


def run(rt: Runtime, step: PullStep) -> None:
    """Pull the reference (stream errors checked); record its content, its digest and id."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        image_id = registry.pull(rt.engine, step.ref, progress)
        # the digest of what was pulled (from the engine), not of what the tag names a
        # moment later
        digest = repo_digest(rt, image_id, registry.Reference.parse(step.ref)) \
            or rt.served_digest(step.ref)
        if digest is None:
            raise RegistryError(f"{step.task}: {step.ref} was pulled but the registry serves no "
                                "digest for it now; rerun.")
        recording.data = {"content_digest": content_of(rt, image_id)}
        recording.local = {"ref": step.ref, "image_id": image_id, "digest": digest}


class Pull(Kind[PullStep]):
    name = "pull"
    shape = "invhouse"
    keyword = Key("pull", "string", "the reference to pull, e.g. {registry}/someone/app:latest",
                  required=True)
    provides: ClassVar[frozenset[Role]] = frozenset({"image"})
    summary = "pull an image from a registry (docker pull)"
    lock_fields = ("content_digest",)
    lock_doc = "`content_digest` of the pulled image"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> PullStep:
        return PullStep(**common, ref=f.image_ref("pull", digest_ok=True))

    def makes(self, step: PullStep, exercise: Exercise) -> Makes:
        return Makes(images=(step.ref,))

    def reads(self, step: PullStep) -> Reads:
        return Reads(pulls=(step.ref,))

    def task(self, step: PullStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(run, ctx.rt, step)],
                "uptodate": [Check("registry digest and image", uptodate, ctx.rt, step)]}

    def shell(self, step: PullStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return shells.image_shell(ctx.rt, step.task, request)
