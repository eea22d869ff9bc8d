"""``commit:``: run commands in a container from an image step's result and commit it.

The inputs digest covers the source image's content identity and the commands; the result is
reused like a build's (see ``tasks.kinds.reuse``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..digests import json_digest
from ..engine.builders import CommitRequest, Made
from ..errors import SpecError
from . import records
from ..dsl.fields import Fields
from ..dsl.model import Exercise, LocalRef, Role, Step
from .actions import Check, Verdict, action, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Session, ShellRequest, TaskContext
from . import shells
from .kept import kept
from .reuse import (builder_part, image_facts, made_digest, made_image_uptodate, make_image,
                    registry_source, throwaway)
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class CommitStep(Step):
    """Run commands in a container from an image step's result and commit it as a new image."""

    kind: ClassVar[str] = "commit"
    image: str  # name of the source image step in the same exercise
    commands: tuple[str, ...]
    tag: str
    timeout: int = 1800

    @property
    def image_ref(self) -> str:
        return self.tag

    @property
    def source(self) -> str:
        """The task of the source image step."""
        return f"{self.exercise}:{self.image}"


def commit_digest(source: str, commands: tuple[str, ...]) -> str:
    """Inputs digest of a commit step: the source image's identity and the commands."""
    return json_digest({"v": 2, "source": source, "commands": list(commands)})


def uptodate(rt: Runtime, step: CommitStep) -> Verdict:
    """Up to date iff source image and commands are as recorded and the result is still here."""
    source = records.read(rt.record_path(step.source))
    if source is None or not source.get("content_digest"):
        return stale(f"its source {step.source} has no record")
    return made_image_uptodate(rt, step.task, step.tag, made_digest(
        rt, commit_digest(source["content_digest"], step.commands)), builder_part(rt))


def failed_commands(outcome: Any) -> str:
    """What failed, for a commit's kept container (its commands exited non-zero)."""
    return f"a command failed (exit code {outcome.exit_code})" if outcome.exit_code else ""


def run(rt: Runtime, step: CommitStep) -> None:
    """Run the commands in a container from the source image and commit it under the tag;
    a container whose commands fail is kept, and the error's last line opens it."""
    with recorded(rt.record_path(step.task), step.task) as recording, \
            kept(rt, step.task, failed_commands) as keep:
        source, source_id = image_facts(rt, step.source, step.task)
        digest = made_digest(rt, commit_digest(source["content_digest"], step.commands))
        builder = rt.builder
        # a reproducible builder labels nothing with the inputs: the bytes stay the content's
        labels = {} if builder.reproducible else rt.engine.image_label(digest, step.task)
        make_image(rt, step.task, step.tag, digest, lambda: builder.commit(CommitRequest(
            source_id=source_id, source=registry_source(rt.record_path(step.source)),
            commands=step.commands, tag=step.tag, timeout=step.timeout,
            container_labels=rt.engine.labels(step.task), labels=labels, task=step.task,
            fix=f"Fix 'commands:' in {step.where.file}.", transit=builder.transit(
                step.tag, digest), keep=keep), progress), recording)
        recording.local["inputs"] = builder_part(rt)


class Commit(Kind[CommitStep]):
    name = "commit"
    shape = "component"
    keyword = Key("commit", "string", "the image step whose result the commands run in",
                  required=True)
    keys = (Key("commands", "strings", "shell commands (/bin/sh -c, set -e)", required=True),
            Key("tag", "string", "the committed image's reference", required=True),
            Key("timeout", "integer", "seconds the commands may take (default 1800)"))
    provides: ClassVar[frozenset[Role]] = frozenset({"image"})
    summary = "run commands in a container from an image, and commit it (docker commit)"
    lock_fields = ("inputs_digest", "content_digest")
    lock_if_noted = ("registry_digest",)
    lock_doc = ("`inputs_digest` (image and commands) and `content_digest` of the image; with "
                "`builder: buildah`, its `registry_digest` too")

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> CommitStep:
        commands = f.texts("commands")
        if not commands:
            raise SpecError(f.where("commands"), "a commit step needs 'commands' to run.")
        return CommitStep(**common, image=f.required("commit"), commands=commands,
                          tag=f.image_ref("tag"), timeout=f.positive("timeout") or 1800)

    def remake(self, step: CommitStep, ctx: TaskContext, folder: Path, export: Path) -> Made:
        rt = ctx.rt
        _, source_id = image_facts(rt, step.source, step.task)
        name = throwaway(step, folder)
        return rt.builder.commit(CommitRequest(
            source_id=source_id, source=registry_source(rt.record_path(step.source)),
            commands=step.commands, tag=name, timeout=step.timeout,
            container_labels=rt.engine.labels(step.task), labels={}, task=step.task,
            fix=f"Fix 'commands:' in {step.where.file}.", transit=name), progress,
            export=export)

    def local_refs(self, step: CommitStep) -> list[LocalRef]:
        return [LocalRef("commit", step.image, "image")]

    def makes(self, step: CommitStep, exercise: Exercise) -> Makes:
        return Makes(images=(step.tag,))

    def task(self, step: CommitStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(run, ctx.rt, step)],
                "uptodate": [Check("source image, commands and image", uptodate, ctx.rt,
                                   step)]}

    def shell(self, step: CommitStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return shells.image_shell(ctx.rt, step.task, request)
