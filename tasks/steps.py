"""What each step kind does when doit runs it, and how it decides it is up to date.

This is the only layer between doit and the operations (images, containers, registry). Every
action goes through ``reported``: our errors and Docker's become doit ``TaskFailed`` with a
one-paragraph message, never a traceback. Every action removes its record first and writes it
last, so a failed or interrupted step leaves no record claiming success.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import docker.errors
from doit.exceptions import TaskFailed

from . import containers, images, records, registry
from .config import Config
from .engine import LABEL_INPUTS, Engine
from .errors import Ac295Error, RecipeError
from .spec import BuildStep, ImportStep, PushStep, RunStep, ShStep


def progress(line: str) -> None:
    """Report progress through doit: a Python action's stdout is what doit shows or captures."""
    sys.stdout.write(line.rstrip("\n") + "\n")
    sys.stdout.flush()


def reported(action: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors and the Docker SDK's into ``TaskFailed``: the one place errors are caught."""

    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = action(*args, **kwargs)
        except Ac295Error as err:
            return TaskFailed(str(err))
        except docker.errors.DockerException as err:
            return TaskFailed(f"the Docker Engine refused: {err}")
        return None if result is None else result

    return wrapper


def quiet_check(check: Callable[[], bool]) -> Callable[[], bool]:
    """An uptodate check that says "not up to date" instead of raising.

    If the engine or the registry cannot be asked, the action runs and reports the same
    problem through ``reported``, without a traceback.
    """

    @functools.wraps(check)
    def wrapper() -> bool:
        try:
            return bool(check())
        except (Ac295Error, docker.errors.DockerException):
            return False

    return wrapper


@dataclass
class Runtime:
    """What actions share in one doit process: the config, the engine view, the registry."""

    config: Config
    engine: Engine = field(default_factory=Engine)

    @property
    def local_registry(self) -> registry.LocalRegistry | None:
        port = self.config.local_registry_port
        if port is None:
            return None
        return registry.LocalRegistry(root=self.config.state / "registry", port=port)

    def record_path(self, task: str) -> Any:
        return records.path_for(self.config, task)

    def served_digest(self, ref: str) -> str | None:
        """The digest a registry serves for ``ref``; the local one is read from disk if stopped."""
        parsed = registry.Reference.parse(ref)
        local = self.local_registry
        if local is not None and parsed.registry == self.config.registry:
            return local.served_digest(parsed)
        return registry.manifest_digest(parsed)


# --- build -------------------------------------------------------------------------------

def build_uptodate(rt: Runtime, step: BuildStep) -> bool:
    """Up to date iff the inputs digest is the recorded one and the engine still has the image."""
    record = records.read(rt.record_path(step.task))
    if record is None:
        return False
    digest = images.inputs_digest(step, rt.engine)
    return digest == record.get("inputs_digest") and \
        rt.engine.image_id(step.tag) == record.get("image_id")


def build_action(rt: Runtime, step: BuildStep) -> None:
    """Build the image, or reuse one the engine has with the same inputs digest."""
    path = rt.record_path(step.task)
    records.remove(path)
    for base in step.bases:  # a base no step makes (python:3.11-slim): pull it, checked
        if rt.engine.image_id(base) is None:
            registry.pull(rt.engine, base, progress)
    digest = images.inputs_digest(step, rt.engine)
    assert digest is not None  # every base is present
    existing = rt.engine.find_by_label(LABEL_INPUTS, digest)
    if existing is not None:
        progress(f"{step.tag}: the engine has image {existing.id[:19]} with the same inputs "
                 "digest; tagging it instead of building")
        images.tag(rt.engine, existing.id, step.tag)
        image_id = existing.id
    else:
        image_id = images.build(step, rt.engine, digest, progress)
    records.write(path, {"task": step.task, "tag": step.tag, "image_id": image_id,
                         "inputs_digest": digest})


# --- import ------------------------------------------------------------------------------

def _import_cache_path(rt: Runtime, step: ImportStep) -> Any:
    return rt.record_path(step.task).with_suffix(".cache.json")


def import_uptodate(rt: Runtime, step: ImportStep) -> bool:
    """Up to date iff the tarball and changes are as recorded and the engine has the image."""
    record = records.read(rt.record_path(step.task))
    if record is None or not step.tarball.exists():
        return False
    digest = images.import_digest(step, records.read(_import_cache_path(rt, step)))
    return digest == record.get("inputs_digest") and \
        rt.engine.image_id(step.tag) == record.get("image_id")


def import_action(rt: Runtime, step: ImportStep) -> None:
    """Import the tarball, or reuse an image the engine has with the same inputs digest."""
    path = rt.record_path(step.task)
    records.remove(path)
    cache = images.tarball_cache(step)
    digest = images.import_digest(step, cache)
    existing = rt.engine.find_by_label(LABEL_INPUTS, digest)
    if existing is not None:
        progress(f"{step.tag}: reusing image {existing.id[:19]} imported from the same tarball")
        images.tag(rt.engine, existing.id, step.tag)
        image_id = existing.id
    else:
        image_id = images.import_tarball(step, rt.engine, digest, progress)
    # The cache file is not a target: its bytes change when the tarball is touched, and
    # downstream steps must only rerun when the image itself changes.
    records.write(_import_cache_path(rt, step), cache)
    records.write(path, {"task": step.task, "tag": step.tag, "image_id": image_id,
                         "inputs_digest": digest})


# --- run ---------------------------------------------------------------------------------

def run_action(rt: Runtime, step: RunStep) -> None:
    """Run the one-shot container from the image step's recorded id and check its output."""
    path = rt.record_path(step.task)
    records.remove(path)
    image = records.read(rt.record_path(f"{step.exercise}:{step.image}"))
    if image is None:
        raise Ac295Error(f"{step.task}: step '{step.image}' has no record; run it first.")
    outcome = containers.run_once(step, rt.engine, image["image_id"], progress)
    containers.check(step, outcome)
    records.write(path, {"task": step.task, "image_id": image["image_id"],
                         "exit_code": outcome.exit_code, "stdout": outcome.stdout,
                         "stderr": outcome.stderr})


# --- push --------------------------------------------------------------------------------

def push_ref(rt: Runtime, step: PushStep, exercise_steps: dict[str, Any]) -> str:
    """The reference a push step writes: its own ``tag`` or its image step's."""
    return step.tag or exercise_steps[step.image].tag


def push_uptodate(rt: Runtime, step: PushStep, ref: str) -> bool:
    """Up to date iff the registry serves, under the tag, the digest recorded for this image."""
    record = records.read(rt.record_path(step.task))
    image = records.read(rt.record_path(f"{step.exercise}:{step.image}"))
    if record is None or image is None or record.get("image_id") != image.get("image_id"):
        return False
    return rt.served_digest(ref) == record.get("digest")


def push_action(rt: Runtime, step: PushStep, ref: str) -> None:
    """Tag the image as ``ref`` and push it, unless the registry already serves its digest."""
    path = rt.record_path(step.task)
    records.remove(path)
    image = records.read(rt.record_path(f"{step.exercise}:{step.image}"))
    if image is None:
        raise Ac295Error(f"{step.task}: step '{step.image}' has no record; run it first.")
    image_id = image["image_id"]
    if rt.engine.image_id(ref) != image_id:
        images.tag(rt.engine, image_id, ref)
    parsed = registry.Reference.parse(ref)
    served = rt.served_digest(ref)
    info = rt.engine.images().get(image_id)
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    known = {d.split("@", 1)[1] for d in (info.repo_digests if info else [])
             if d.split("@", 1)[0] == repo}
    if served is not None and served in known:
        progress(f"{parsed}: the registry already serves {served}; nothing to push")
        digest = served
    else:
        digest, uploaded = registry.push(rt.engine, ref, progress)
        rt.engine.refresh(image_id)
        progress(f"{parsed}: pushed {digest} ({uploaded} layer(s) uploaded)")
    records.write(path, {"task": step.task, "ref": ref, "image_id": image_id, "digest": digest})


# --- sh ----------------------------------------------------------------------------------

def sh_check_targets(step: ShStep) -> None:
    """Fail a recipe that exited 0 without making each declared target."""
    missing = [str(t) for t in step.targets if not t.exists()]
    if missing:
        raise RecipeError(f"{step.task}: the recipe succeeded but did not make "
                          f"{', '.join(missing)}. Fix the recipe or its 'targets:' in "
                          f"{step.where.file}.")


# --- the local registry service ----------------------------------------------------------

def registry_start(rt: Runtime) -> None:
    """Start the local registry (a `setup` of pushes: it runs only when a push must run)."""
    local = rt.local_registry
    if local is None:
        progress(f"the registry {rt.config.registry} is not local; nothing to start")
        return
    local.start(progress)


def registry_stop(rt: Runtime) -> None:
    """Stop the local registry if this project started it."""
    local = rt.local_registry
    if local is not None:
        local.stop(progress)
