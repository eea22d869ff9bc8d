"""``save:``: an image step's result as one file (``docker save``), for runtimes without a
daemon: the single-file image that Singularity users carry around, which podman runs rootless.

Its record holds the image's content digest, so what runs the archive reruns only when the
image's content changes; the archive's path and the id of the image in it are notes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..engine import images
from ..errors import Ac295Error
from ..dsl.fields import Fields
from ..dsl.model import Exercise, LocalRef, Role, Step
from . import records
from .actions import Check, Verdict, action, fresh, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Session, ShellRequest, TaskContext
from .shells import instead, users_of
from .reuse import image_facts
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class SaveStep(Step):
    """Write an image step's result to ``archive`` (``docker save``)."""

    kind: ClassVar[str] = "save"
    image: str  # the image step of this exercise
    archive: Path

    @property
    def source(self) -> str:
        return f"{self.exercise}:{self.image}"


def uptodate(rt: Runtime, step: SaveStep) -> Verdict:
    """Up to date iff the archive holds the image the image step made (its id)."""
    from ..engine.rootless import archive_image_id  # only this check needs it
    record = records.read(rt.record_path(step.task))
    if record is None:
        return stale("it has no record (never ran, or its last run failed)")
    if not step.archive.is_file():
        return stale(f"{step.archive} is missing")
    try:
        _, image_id = image_facts(rt, step.source, step.task)
        held = archive_image_id(step.archive)
    except Ac295Error as err:
        return stale(str(err))
    if held != image_id:
        return stale(f"{step.archive.name} holds {held[7:19]}, not the image "
                     f"{image_id[7:19]} of step '{step.image}'")
    return fresh(f"{step.archive.name} holds {image_id[7:19]}")


def run(rt: Runtime, step: SaveStep) -> None:
    """``docker save`` the image step's image into the archive (written whole, then renamed)."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        record, image_id = image_facts(rt, step.source, step.task)
        progress(f"docker save {image_id[7:19]} > {step.archive}")
        images.save(rt.engine, image_id, step.archive)
        size = os.path.getsize(step.archive)
        progress(f"{step.archive.name}: {size / 1e6:.0f} MB")
        recording.data = {"content_digest": record.get("content_digest")}
        recording.local = {"image_id": image_id, "archive": str(step.archive)}


class Save(Kind[SaveStep]):
    name = "save"
    shape = "folder"
    keyword = Key("save", "string", "the image step whose result is written to one file",
                  required=True)
    provides: ClassVar[frozenset[Role]] = frozenset({"archive"})
    role_words = {"archive": "image archive"}
    summary = "write an image to one file (docker save), e.g. for rootless runs"
    lock_fields = ("content_digest",)
    lock_doc = "`content_digest` of the saved image"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> SaveStep:
        state = Path(f.variables["state"])
        return SaveStep(**common, image=f.required("save"),
                        archive=state / "archives" / common["exercise"] / f"{common['name']}.tar")

    def local_refs(self, step: SaveStep) -> list[LocalRef]:
        return [LocalRef("save", step.image, "image")]

    def makes(self, step: SaveStep, exercise: Exercise) -> Makes:
        return Makes(files=(step.archive,))

    def task(self, step: SaveStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(run, ctx.rt, step)], "targets": [str(step.archive)],
                "uptodate": [Check("the archive's image", uptodate, ctx.rt, step)]}

    def shell(self, step: SaveStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return instead(step.task, f"writes {step.source}'s image to {step.archive.name}",
                       users_of(ctx.exercise, step.name, "archive") + [step.source],
                       "a rootless run of it, or the image's")
