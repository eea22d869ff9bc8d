"""``import:``: a root file system tarball as an image (``docker import``), maybe made by a recipe.

With a ``recipe`` (shell commands that make the tarball, with ``deps``) the image is identified
by the recipe, not by the tarball's bytes: debootstrap is not reproducible, so a fresh clone
could never match a tarball, but it can match a recipe, and then reuse the image from the
engine or the registry without running the recipe at all. What another machine can check is
the package manifest (``name=version`` of every installed Debian package): the import labels
the image with it and with its identity (recipe + manifest), which images built FROM it
inherit and which stands for their bottom layer (see ``tasks.engine.content``).
"""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..digests import file_sha256, json_digest
from ..engine import content
from ..engine.builders import ImportRequest, Made
from ..engine.content import LABEL_MANIFEST, LABEL_ROOTFS
from ..errors import RecipeError, SpecError
from . import recipes, records
from ..dsl.fields import Fields
from ..dsl.model import Exercise, Role, Step
from .actions import Check, Verdict, action, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Reads, Session, ShellRequest, TaskContext
from . import shells
from .reuse import builder_part, made_digest, made_image_uptodate, make_image, throwaway
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class ImportStep(Step):
    """Import a root file system tarball as an image (``docker import``)."""

    kind: ClassVar[str] = "import"
    tarball: Path
    tag: str
    changes: tuple[str, ...]
    recipe: tuple[str, ...] = ()
    deps: tuple[Path, ...] = ()
    #: The recipe as written, {state} and {root} left unexpanded: what identifies the image,
    #: so that clones in other folders find the same one.
    recipe_key: tuple[str, ...] = ()

    @property
    def image_ref(self) -> str:
        return self.tag


def recipe_digest(step: ImportStep) -> str:
    """Digest of an import's recipe: its commands, its deps' contents and the changes."""
    deps = {str(d.name): file_sha256(d) for d in step.deps}
    payload = json.dumps({"v": 2, "recipe": list(step.recipe_key), "deps": deps,
                          "changes": list(step.changes)}, sort_keys=True)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def import_digest(step: ImportStep, cached: dict[str, Any] | None) -> str:
    """Digest of the tarball and the import changes; reuses a cached tarball hash by stat.

    With a recipe, the recipe's digest instead (see the module's docstring).
    """
    if step.recipe:
        return recipe_digest(step)
    info = step.tarball.stat()
    key = [info.st_size, info.st_mtime_ns, info.st_ino]
    if cached and cached.get("stat") == key and cached.get("tarball_sha256"):
        tar_hash = cached["tarball_sha256"]
    else:
        tar_hash = file_sha256(step.tarball)
    payload = json.dumps({"v": 2, "tar": tar_hash, "changes": list(step.changes)})
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def tarball_cache(step: ImportStep) -> dict[str, Any]:
    """What ``import_digest`` may reuse next time: the tarball's stat and hash."""
    info = step.tarball.stat()
    return {"stat": [info.st_size, info.st_mtime_ns, info.st_ino],
            "tarball_sha256": file_sha256(step.tarball)}


def cache_path(rt: Runtime, step: ImportStep) -> Path:
    return rt.record_path(step.task).with_suffix(".cache.json")


def uptodate(rt: Runtime, step: ImportStep) -> Verdict:
    """Up to date iff the recipe (or the tarball) and changes are as recorded and the engine
    still has the image."""
    if records.read(rt.record_path(step.task)) is None:
        return stale("it has no record (never ran, or its last run failed)")
    if not step.recipe and not step.tarball.exists():
        return stale(f"{step.tarball} is missing")
    digest = import_digest(step, records.read(cache_path(rt, step)))
    return made_image_uptodate(rt, step.task, step.tag, made_digest(rt, digest),
                               builder_part(rt))


def _labels(rt: Runtime, step: ImportStep, digest: str, made: str,
            manifest: list[str] | None = None) -> dict[str, str]:
    """The image's labels: its inputs (not from a reproducible builder, whose bytes must not
    change with a comment in the recipe) and, for a recipe, its identity and packages."""
    labels = {} if rt.builder.reproducible else rt.engine.image_label(made, step.task)
    if manifest is not None:
        labels[LABEL_ROOTFS] = rootfs_identity(digest, manifest)
        labels[LABEL_MANIFEST] = ",".join(manifest)
    return labels


def _make(rt: Runtime, step: ImportStep, made: str, labels: dict[str, str]) -> Made:
    """Import the tarball with the builder."""
    return rt.builder.import_rootfs(ImportRequest(
        tarball=step.tarball, tag=step.tag, changes=step.changes, labels=labels,
        task=step.task, transit=rt.builder.transit(step.tag, made)), progress)


def rootfs_identity(recipe: str, manifest: list[str]) -> str:
    """The identity of a recipe-made root file system: its recipe and its packages."""
    return json_digest({"v": 1, "recipe": recipe, "packages": manifest})


def run(rt: Runtime, step: ImportStep) -> None:
    """Import the tarball (made by the recipe if needed), or reuse an image with its digest."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        if step.recipe:
            digest = recipe_digest(step)
            made = made_digest(rt, digest)
            image_id = make_image(rt, step.task, step.tag, made,
                                  lambda: _import_from_recipe(rt, step, digest, made), recording)
            info = rt.engine.info(image_id)
            listed = info.labels.get(LABEL_MANIFEST, "") if info else ""
            assert recording.data is not None
            recording.data["manifest"] = [p for p in listed.split(",") if p]
            recording.local["inputs"] = builder_part(rt)
            return
        cache = tarball_cache(step)
        digest = import_digest(step, cache)
        # The cache file is not a target: its bytes change when the tarball is touched, and
        # downstream steps must only rerun when the image itself changes.
        records.write(cache_path(rt, step), cache)
        made = made_digest(rt, digest)
        make_image(rt, step.task, step.tag, made,
                   lambda: _make(rt, step, made, _labels(rt, step, digest, made)), recording)
        recording.local["inputs"] = builder_part(rt)


def _import_from_recipe(rt: Runtime, step: ImportStep, digest: str, made: str) -> Made:
    """Run the recipe unless the tarball it made for this digest is still there; import."""
    path = cache_path(rt, step)
    cache = records.read(path)
    if not (step.tarball.exists() and cache and cache.get("recipe") == digest):
        records.remove(path)
        for command in step.recipe:
            recipes.run(command, step.where.file.parent, step.task, step.where.file, "recipe")
        if not step.tarball.is_file():
            raise RecipeError(f"{step.task}: the recipe succeeded but did not make "
                              f"{step.tarball}. Fix 'recipe:' in {step.where.file}.")
        records.write(path, {"recipe": digest})
    else:
        progress(f"{step.tarball} was made by the same recipe; importing it again")
    manifest = content.manifest_of(step.tarball)
    progress(f"{len(manifest)} Debian package(s) in {step.tarball.name}")
    return _make(rt, step, made, _labels(rt, step, digest, made, manifest))


class Import(Kind[ImportStep]):
    name = "import"
    shape = "folder"
    keyword = Key("import", "string", "the root file system tarball to import", required=True)
    keys = (Key("tag", "string", "the image's reference", required=True),
            Key("changes", "strings", "Dockerfile instructions applied on import (CMD, ENV)"),
            Key("recipe", "strings", "shell commands that make the tarball; the image is then "
                "identified by the recipe"),
            Key("deps", "strings", "the recipe's input files"))
    provides: ClassVar[frozenset[Role]] = frozenset({"image"})
    summary = "import a root file system tarball as an image (docker import)"
    lock_fields = ("inputs_digest", "content_digest", "manifest")
    lock_if_noted = ("registry_digest",)
    lock_doc = ("`inputs_digest` (the recipe, or the tarball), `content_digest`, `manifest` "
                "(Debian packages, name=version); with `builder: buildah`, `registry_digest`")

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> ImportStep:
        if "deps" in f.node and "recipe" not in f.node:
            raise SpecError(f.where("deps"), "'deps' are the inputs of a 'recipe'.",
                            "Add the recipe that makes the tarball, or remove 'deps'.")
        return ImportStep(**common, tarball=f.path("import", f.required("import"), folder),
                          tag=f.image_ref("tag"), changes=f.texts("changes"),
                          recipe=f.quoted().texts("recipe"),
                          recipe_key=f.unexpanded().texts("recipe"),
                          deps=tuple(f.path("deps", d, folder) for d in f.texts("deps")))

    def remake(self, step: ImportStep, ctx: TaskContext, folder: Path, export: Path) -> Made:
        """The recipe run again in a copy of the exercise folder with a state folder of its
        own (or the tarball copied), then imported."""
        rt = ctx.rt
        exercise = folder / "exercise"
        state = folder / "state"
        shutil.copytree(step.where.file.parent, exercise, symlinks=True,
                        copy_function=shutil.copy)
        moved = {rt.config.state: state, step.where.file.parent: exercise}
        tarball = next((new / step.tarball.relative_to(old) for old, new in moved.items()
                        if step.tarball.is_relative_to(old)), step.tarball)
        labels: dict[str, str] = {}
        if step.recipe:
            for command in step.recipe_key:
                recipes.run(command.replace("{state}", shlex.quote(str(state)))
                            .replace("{root}", shlex.quote(str(rt.config.root))),
                            exercise, step.task, step.where.file, "recipe")
            if not tarball.is_file():
                raise RecipeError(f"{step.task}: the recipe succeeded but did not make "
                                  f"{tarball}. Fix 'recipe:' in {step.where.file}.")
            manifest = content.manifest_of(tarball)
            labels = {LABEL_ROOTFS: rootfs_identity(recipe_digest(step), manifest),
                      LABEL_MANIFEST: ",".join(manifest)}
        elif not tarball.exists():
            tarball.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(step.tarball, tarball)
        name = throwaway(step, folder)
        return rt.builder.import_rootfs(ImportRequest(
            tarball=tarball, tag=name, changes=step.changes, labels=labels, task=step.task,
            transit=name), progress, export=export)

    def makes(self, step: ImportStep, exercise: Exercise) -> Makes:
        return Makes(images=(step.tag,))

    def reads(self, step: ImportStep) -> Reads:
        return Reads(files=step.deps)

    def task(self, step: ImportStep, ctx: TaskContext) -> dict[str, Any]:
        deps = [str(d) for d in step.deps] if step.recipe else [str(step.tarball)]
        return {"file_dep": deps, "actions": [action(run, ctx.rt, step)],
                "uptodate": [Check("recipe (or tarball) and image", uptodate, ctx.rt, step)]}

    def shell(self, step: ImportStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return shells.image_shell(ctx.rt, step.task, request)
