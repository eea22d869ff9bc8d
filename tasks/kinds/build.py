"""``build:``: an image from a Dockerfile (``docker build``), incremental by its inputs digest.

The inputs digest covers the Dockerfile, the files ``.dockerignore`` lets into the context
(path, content and executable bit; ``.dockerignore`` itself only when the Dockerfile copies
the whole context), the build args, and the content identity of every image the Dockerfile
reads (``FROM``, ``COPY --from``), with a build arg that names one of those images replaced
by its identity. Never a place or a time: not the registry host, the state folder, the
clone's path or an engine id. It is kept in the step's record and as a label on the image,
so a clone can find the image in the engine (or, through the content tag, in the registry).

Files other steps make (a wheelhouse) stay out of the source tree: ``include:`` names them,
and the context is then the exercise's folder with each included folder at its place,
assembled under the state folder (``engine.contexts``) and read like any folder.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, ContextManager, Mapping

from ..digests import file_sha256
from ..engine import contexts, images, registry
from ..engine.builders import BuildRequest, Made
from ..errors import BuildError, SpecError, Where
from ..dsl.dockerfiles import base_images, copies_whole_context
from ..dsl.fields import Fields
from ..dsl.model import Exercise, Role, Step, normalize_ref
from .actions import Check, Verdict, action, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Reads, Session, ShellRequest, TaskContext
from . import shells
from .kept import kept
from .reuse import (builder_part, identity, made_digest, made_image_uptodate, make_image,
                    registry_source, repo_digest, throwaway)
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class BuildStep(Step):
    """Build an image from a Dockerfile (``docker build``)."""

    kind: ClassVar[str] = "build"
    context: Path
    dockerfile: Path
    tag: str
    args: Mapping[str, str]
    bases: tuple[str, ...]  # FROM references, args substituted, stages and scratch left out
    include: Mapping[str, Path] = field(default_factory=dict)  # place in context -> folder

    @property
    def image_ref(self) -> str:
        return self.tag


Identities = Mapping[str, str | None]  # image reference -> content identity (None: missing)


def read_identities(rt: Runtime, step: BuildStep, makers: Mapping[str, Path | None]
                    ) -> dict[str, str | None]:
    """The content identity of every image the build reads (None where the engine lacks one
    that no step makes)."""
    return {ref: identity(rt, ref, makers.get(ref)) for ref in step.bases}


def inputs_digest(step: BuildStep, identities: Identities, memo: Path | None = None
                  ) -> str | None:
    """The build's inputs digest, or None when an image it reads is not in the engine yet.

    Raises:
        BuildError: a context file cannot be read (permissions, a FIFO, bad .dockerignore).
    """
    found = inputs_of(step, identities, memo)
    return found[0] if found else None


def context_memo(rt: Runtime, step: BuildStep) -> Path:
    """Where the step's context selection is kept between runs (``images.context_files``)."""
    return rt.config.state / "cache" / "context" / f"{step.exercise}.{step.name}.json"


def context_root(rt: Runtime, step: BuildStep) -> Path:
    """The folder the build reads: its context, or with ``include:`` the context assembled
    with the included folders under the state folder.

    Raises:
        BuildError: an included folder is missing, or its place is taken.
    """
    if not step.include:
        return step.context
    return contexts.assemble(step.context, step.include, rt.config.state / "cache" / "context"
                             / f"{step.exercise}.{step.name}", step.task)


def inputs_of(step: BuildStep, identities: Identities, memo: Path | None = None,
              root: Path | None = None) -> tuple[str, dict[str, str]] | None:
    """(the inputs digest, each input's own short digest by name), or None when an image it
    reads is missing. The parts let a check say which input changed ("Question.py").
    ``memo``: see ``context_memo``; ``root``: the folder read as the context (see
    ``context_root``; default: the step's context)."""
    if any(identities.get(ref) is None for ref in step.bases):
        return None
    try:
        return _inputs(step, identities, memo, root or step.context)
    except (OSError, UnicodeDecodeError) as err:
        raise BuildError(f"{step.task}: cannot read the build context {step.context}: {err}. "
                         "Fix the file or list it in .dockerignore.") from None


def _inputs(step: BuildStep, identities: Identities, memo: Path | None, root: Path
            ) -> tuple[str, dict[str, str]]:
    digest = hashlib.sha256()
    read = {normalize_ref(ref): str(identities[ref]) for ref in step.bases}
    args = {name: f"image:{read[normalize_ref(value)]}" if normalize_ref(value) in read
            else value for name, value in sorted(step.args.items())}
    header = {"v": 2, "dockerfile": os.path.relpath(step.dockerfile, step.context),
              "args": args, "images": [read[normalize_ref(ref)] for ref in step.bases]}
    digest.update(json.dumps(header, sort_keys=True).encode())
    dockerfile = step.dockerfile.read_bytes()
    digest.update(dockerfile)
    parts = {f"build arg {name}": str(value)[:80] for name, value in args.items()}
    # named without their registry: moving the registry changes no input
    parts.update({f"image {_repository(ref)}": str(identities[ref]) for ref in step.bases})
    parts["the Dockerfile"] = hashlib.sha256(dockerfile).hexdigest()
    whole = copies_whole_context(step.dockerfile)
    for rel in images.context_files(root, root / os.path.relpath(step.dockerfile, step.context),
                                    memo):
        if rel == ".dockerignore" and not whole:
            continue  # its rules are seen through the files they select
        path = root / rel
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            content = ("link:" + os.readlink(path)).encode()
        elif not stat.S_ISREG(info.st_mode):
            raise OSError(f"{rel} is not a regular file")
        else:
            content = file_sha256(path).encode()
        executable = bool(info.st_mode & stat.S_IXUSR)
        digest.update(f"\0{rel}\0{int(executable)}\0".encode() + content)
        parts[rel] = f"{int(executable)}:{content.decode()}"
    return "sha256:" + digest.hexdigest(), parts


def _repository(ref: str) -> str:
    parsed = registry.Reference.parse(ref)
    return f"{parsed.repository}{'@' if parsed.by_digest else ':'}{parsed.tag}"


def made_inputs(rt: Runtime, step: BuildStep, makers: Mapping[str, Path | None],
                root: Path | None = None) -> tuple[str, dict[str, str]] | None:
    """``inputs_of`` as the current builder makes the image (see ``reuse.made_digest``)."""
    found = inputs_of(step, read_identities(rt, step, makers), context_memo(rt, step),
                      root or context_root(rt, step))
    if found is None:
        return None
    return made_digest(rt, found[0]), {**found[1], **builder_part(rt)}


def uptodate(rt: Runtime, step: BuildStep, makers: Mapping[str, Path | None]) -> Verdict:
    """Up to date iff the inputs digest is the recorded one and the engine still has the image."""
    if not rt.record_path(step.task).exists():
        return stale("it has no record (never ran, or its last run failed)")  # no hashing
    found = made_inputs(rt, step, makers)
    return made_image_uptodate(rt, step.task, step.tag, found[0] if found else None,
                               found[1] if found else None)


def run(rt: Runtime, step: BuildStep, makers: Mapping[str, Path | None]) -> None:
    """Build the image, or reuse one made from the same inputs. A failed build keeps the
    last layer it reached, and the error's last line opens it (``tasks.kinds.kept``)."""
    with recorded(rt.record_path(step.task), step.task) as recording, \
            kept(rt, step.task) as keep:
        for ref in step.bases:  # an image no step makes (python:3.11-slim): pull it, checked
            if makers.get(ref) is None and rt.engine.image_id(ref) is None:
                registry.pull(rt.engine, ref, progress)
        root = context_root(rt, step)
        found = made_inputs(rt, step, makers, root)
        if found is None:
            raise BuildError(f"{step.task}: an image {step.dockerfile} reads "
                             f"({', '.join(step.bases)}) is not in the engine even after "
                             "pulling it; check its name.")
        digest, parts = found
        make_image(rt, step.task, step.tag, digest, lambda: rt.builder.build(
            request(rt, step, makers, digest, keep, root), progress), recording)
        recording.local["inputs"] = parts


def request(rt: Runtime, step: BuildStep, makers: Mapping[str, Path | None], digest: str,
            keep: Any = None, root: Path | None = None) -> BuildRequest:
    """What the builder needs to build the step from inputs ``digest`` (``keep``: what the
    docker builder keeps of a failed build, ``tasks.kinds.kept``; ``root``: the context as
    assembled, ``context_root``).

    A reproducible builder labels nothing with the inputs (a comment would change the
    bytes) and reads each base from a registry: the registry reference and digest its maker
    noted, or the digest the engine pulled it by.
    """
    builder = rt.builder
    bases: dict[str, str] = {}
    if builder.reproducible:
        for ref in step.bases:
            maker = makers.get(ref)
            bases[ref] = registry_source(maker) if maker else pulled_source(rt, ref)
    labels = {} if builder.reproducible else rt.engine.image_label(digest, step.task)
    root = root or step.context
    return BuildRequest(context=root, dockerfile=root / os.path.relpath(step.dockerfile,
                                                                       step.context),
                        args=step.args, tag=step.tag, labels=labels, task=step.task,
                        nocache=not rt.config.reuse, bases=bases,
                        transit=builder.transit(step.tag, digest), keep=keep,
                        shown=step.dockerfile)


def pulled_source(rt: Runtime, ref: str) -> str:
    """An image no step makes, in its registry by the digest the engine pulled it by."""
    image_id = rt.engine.image_id(ref)
    parsed = registry.Reference.parse(ref)
    digest = repo_digest(rt, image_id, parsed) if image_id else None
    if not digest:
        return ""
    return f"{'' if parsed.hub else parsed.registry + '/'}{parsed.repository}@{digest}"


def _include(f: Fields, folder: Path, context: Path) -> dict[str, Path]:
    """``include:``: {a plain relative place in the context: a folder}, each checked."""
    found = {}
    for place, text in f.mapping("include").items():
        where = Where(f.file, f.node["include"].line_of(place), f"{f.key('include')}.{place}")
        parts = Path(place).parts
        if not parts or Path(place).is_absolute() or any(p in ("..", ".") for p in parts):
            raise SpecError(where, f"'{place}' is not a place inside the build context.",
                            "Name a folder relative to the context, e.g. 'wheelhouse'.")
        if os.path.lexists(context / place):
            raise SpecError(where, f"{context / place} is already in the build context.",
                            "Include the folder at another place, or remove that one.")
        found[place] = f.path("include", text, folder)
    return found


class Build(Kind[BuildStep]):
    name = "build"
    shape = "box3d"
    keyword = Key("build", "string", "the build context: a folder of the exercise",
                  required=True)
    keys = (Key("tag", "string", "the image's reference, e.g. {registry}/{hub_user}/app:v1",
                required=True),
            Key("dockerfile", "string", "the Dockerfile, relative to the context "
                "(default: Dockerfile)"),
            Key("args", "mapping", "build args (ARG) and their values"),
            Key("include", "mapping", "folders other steps make, put into the context: "
                "{place in the context: folder}, e.g. {wheelhouse: '{state}/venv/wheelhouse'}"))
    provides: ClassVar[frozenset[Role]] = frozenset({"image"})
    summary = "build an image from a Dockerfile (docker build)"
    lock_fields = ("inputs_digest", "content_digest")
    lock_if_noted = ("registry_digest",)
    lock_doc = ("`inputs_digest` (context, Dockerfile, args, images read) and `content_digest` "
                "of the image; with `builder: buildah`, its `registry_digest` too")

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> BuildStep:
        context = f.path("build", f.required("build"), folder)
        if not context.is_dir():
            raise SpecError(f.where("build"), f"the build context {context} is not a folder.")
        dockerfile = f.path("dockerfile", str(context / (f.text("dockerfile") or "Dockerfile")),
                            folder)
        at = "dockerfile" if "dockerfile" in f.node else "build"
        if not dockerfile.is_file():
            raise SpecError(f.where(at), f"no Dockerfile at {dockerfile}.",
                            "Add it, or name another file with 'dockerfile:'.")
        args = f.mapping("args")
        try:
            bases = base_images(dockerfile, args)
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError(f.where(at), f"cannot read {dockerfile} as UTF-8 text ({err})."
                            ) from None
        return BuildStep(**common, context=context, dockerfile=dockerfile,
                         tag=f.image_ref("tag"), args=args, bases=bases,
                         include=_include(f, folder, context))

    def parse_inputs(self, step: BuildStep) -> tuple[Path, ...]:
        return (step.context, step.dockerfile)

    def makes(self, step: BuildStep, exercise: Exercise) -> Makes:
        return Makes(images=(step.tag,))

    def reads(self, step: BuildStep) -> Reads:
        return Reads(images=step.bases, folders=(step.context, *step.include.values()))

    def remake(self, step: BuildStep, ctx: TaskContext, folder: Path, export: Path) -> Made:
        rt = ctx.rt
        makers = {ref: ctx.maker_record(ref) for ref in step.bases}
        root = context_root(rt, step)  # with its included folders
        found = made_inputs(rt, step, makers, root)
        if found is None:
            raise BuildError(f"{step.task}: an image {step.dockerfile} reads "
                             f"({', '.join(step.bases)}) is not in the engine; run "
                             f"`script/doit {step.task}` first.")
        context = folder / "context"  # copied now: new folders, new times, same contents
        shutil.copytree(root, context, symlinks=True, copy_function=shutil.copy)
        if step.dockerfile.is_relative_to(step.context):
            dockerfile = context / step.dockerfile.relative_to(step.context)
        else:
            dockerfile = folder / step.dockerfile.name
            shutil.copy(step.dockerfile, dockerfile)
        name = throwaway(step, folder)
        return rt.builder.build(dataclasses.replace(
            request(rt, step, makers, found[0]), context=context, dockerfile=dockerfile,
            tag=name, transit=name, labels={}, nocache=True), progress, export=export)

    def task(self, step: BuildStep, ctx: TaskContext) -> dict[str, Any]:
        makers = {ref: ctx.maker_record(ref) for ref in step.bases}
        return {"actions": [action(run, ctx.rt, step, makers)],
                "uptodate": [Check("inputs digest and image", uptodate, ctx.rt, step, makers)]}

    def shell(self, step: BuildStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return shells.image_shell(ctx.rt, step.task, request)
