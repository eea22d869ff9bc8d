"""What each step kind does when doit runs it, and how it decides it is up to date.

This is the only layer between doit and the operations (images, containers, registry). Every
action goes through ``reported``: our errors and Docker's become doit ``TaskFailed`` with a
one-paragraph message, never a traceback. Every action removes its record first and writes it
last, so a failed or interrupted step leaves no record claiming success.
"""
from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

import docker.errors
import requests
from doit.exceptions import TaskFailed

from . import (containers, envspec, images, pipelock, records, registry, services,
               venvs)
from .config import Config
from .engine import LABEL_INPUTS, Engine
from .errors import Ac295Error, BuildError, RecipeError
from .model import (BuildStep, CommitStep, ImageStep, ImportStep, NetworkStep, PullStep,
                    PushStep, RunStep, ShStep, VenvStep, WheelhouseStep)


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
        except requests.RequestException as err:  # the engine's socket went away mid-task
            return TaskFailed(f"lost the connection to the Docker Engine or a registry "
                              f"({type(err).__name__}); is dockerd still running? Rerun "
                              "script/bootstrap.")
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
        except (Ac295Error, docker.errors.DockerException, requests.RequestException, OSError):
            return False

    return wrapper


@dataclass
class Runtime:
    """What actions share in one doit process: the config, the engine view, the registry."""

    config: Config
    engine: Engine = field(default_factory=Engine)

    def __post_init__(self) -> None:
        self.engine.project = str(self.config.state)

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


# --- virtual environments ---------------------------------------------------------------

def _venv_inputs(step: VenvStep, source: VenvStep | None) -> str:
    """Digest of what the environment is made from: the spec file, or the source's lock."""
    origin = step.spec if step.spec is not None else source.lock if source else None
    if origin is None or not origin.is_file():
        raise Ac295Error(f"{step.task}: {origin} is missing; run the step that makes it.")
    return venvs.text_sha256(origin.read_text(encoding="utf-8"))


def venv_uptodate(rt: Runtime, step: VenvStep, source: VenvStep | None) -> bool:
    """Up to date iff spec (or source lock), interpreter and lock are as recorded, and the
    environment is still there."""
    record = records.read(rt.record_path(step.task))
    if record is None or not (step.path / "bin" / "python").exists() or not step.lock.is_file():
        return False
    return record.get("inputs") == _venv_inputs(step, source) \
        and record.get("python") == venvs.interpreter_version(step.python) \
        and record.get("lock") == venvs.text_sha256(step.lock.read_text(encoding="utf-8"))


def venv_action(rt: Runtime, step: VenvStep, source: VenvStep | None) -> None:
    """Make the environment from scratch, install, export (or check) the lock, record."""
    path = rt.record_path(step.task)
    records.remove(path)
    python = venvs.interpreter_version(step.python)
    inputs = _venv_inputs(step, source)
    if step.spec is not None:
        spec = envspec.load(step.spec)
        if spec.python and not (python + ".").startswith(spec.python + "."):
            raise Ac295Error(f"{step.task}: {step.spec.name} asks for python {spec.python} but "
                             f"'{step.python}' is {python}. Set 'python:' in the step to a "
                             f"python{spec.python} interpreter.")
        venvs.create(step.path, step.python, progress)
        lock_text = venvs.install_spec(step.path, spec, progress)
    else:
        assert source is not None
        venvs.create(step.path, step.python, progress)
        venvs.install_lock(step.path, source.lock, progress)
        lock_text = source.lock.read_text(encoding="utf-8")
    frozen = venvs.freeze(step.path)
    if source is not None:
        expected = (records.read(rt.record_path(source.task)) or {}).get("freeze")
        if frozen != expected:
            raise Ac295Error(f"{step.task}: the environment made from {source.task}'s lock "
                             f"differs from it.\n--- {source.task} ---\n{expected}--- "
                             f"{step.task} ---\n{frozen}")
        progress(f"same pip freeze as {source.task}: {len(frozen.splitlines())} package(s)")
    records.write_text(step.lock, lock_text)
    records.write(path, {"task": step.task, "python": python, "inputs": inputs,
                         "lock": venvs.text_sha256(lock_text), "freeze": frozen})
    for line in frozen.splitlines():
        progress(f"  {line}")


def wheelhouse_uptodate(rt: Runtime, step: WheelhouseStep, source: VenvStep) -> bool:
    """Up to date iff made from the same lock and every wheel is still there, unchanged."""
    record = records.read(rt.record_path(step.task))
    if record is None or not step.folder.is_dir() or not source.lock.is_file():
        return False
    return record.get("lock") == venvs.text_sha256(source.lock.read_text(encoding="utf-8")) \
        and record.get("files") == venvs.contents(step.folder)


def wheelhouse_action(rt: Runtime, step: WheelhouseStep, source: VenvStep) -> None:
    """Download the wheels of the source environment's lock (with the pip to install them)."""
    path = rt.record_path(step.task)
    records.remove(path)
    files = venvs.fill_wheelhouse(step.folder, source.lock, source.path, progress)
    progress(f"{len(files)} file(s) in {step.folder}")
    records.write(path, {"task": step.task, "files": files,
                         "lock": venvs.text_sha256(source.lock.read_text(encoding="utf-8"))})


# --- images made from inputs (build, import, commit) ------------------------------------

def _made_image_uptodate(rt: Runtime, step: BuildStep | ImportStep | CommitStep,
                         digest: str | None) -> bool:
    """The shared rule: same inputs digest as recorded, and the tag still names that image."""
    record = records.read(rt.record_path(step.task))
    return record is not None and digest is not None \
        and digest == record.get("inputs_digest") \
        and rt.engine.image_id(step.tag) == record.get("image_id")


def _make_image(rt: Runtime, step: BuildStep | ImportStep | CommitStep, digest: str,
                make: Callable[[], str]) -> None:
    """Reuse an image made from these inputs, or ``make`` it; tag it by content; record.

    Reuse is what lets a clone with no records skip work: first an image in the engine that
    this step made from the same inputs (label + history), then one in the registry under the
    content tag (one HEAD request, then a pull). Only then is the image made.
    """
    existing = rt.engine.find_made(digest, step.task)
    if existing is not None:
        progress(f"{step.tag}: the engine has image {existing.id[:19]} made from the same "
                 "inputs; tagging it instead of making it again")
        images.tag(rt.engine, existing.id, step.tag)
        image_id = existing.id
    else:
        image_id = _pull_by_content(rt, step, digest) or make()
    images.tag(rt.engine, image_id, images.content_tag(step.tag, digest))
    # No tag in the record: renaming the image (hub_user=...) must not rerun its users.
    records.write(rt.record_path(step.task), {"task": step.task, "image_id": image_id,
                                              "inputs_digest": digest})


def _names_registry(ref: str) -> bool:
    """True if a reference names its registry (host.name/..., host:port/..., localhost/...)."""
    first, slash, _ = ref.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def _pull_by_content(rt: Runtime, step: BuildStep | ImportStep | CommitStep,
                     digest: str) -> str | None:
    """Pull the image with these inputs from the registry's content tag, if it is there."""
    if not _names_registry(step.tag):
        return None  # a local-only name: no registry to ask
    ref = images.content_tag(step.tag, digest)
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
    progress(f"{step.tag}: pulled {ref}, made elsewhere from the same inputs; nothing to make")
    images.tag(rt.engine, image_id, step.tag)
    return image_id


# --- build -------------------------------------------------------------------------------

def build_uptodate(rt: Runtime, step: BuildStep) -> bool:
    """Up to date iff the inputs digest is the recorded one and the engine still has the image."""
    if records.read(rt.record_path(step.task)) is None:
        return False  # no need to hash the context
    return _made_image_uptodate(rt, step, images.inputs_digest(step, rt.engine))


def build_action(rt: Runtime, step: BuildStep) -> None:
    """Build the image, or reuse one the engine has with the same inputs digest."""
    path = rt.record_path(step.task)
    records.remove(path)
    for base in step.bases:  # a base no step makes (python:3.11-slim): pull it, checked
        if rt.engine.image_id(base) is None:
            registry.pull(rt.engine, base, progress)
    digest = images.inputs_digest(step, rt.engine)
    if digest is None:
        raise BuildError(f"{step.task}: a base image of {step.dockerfile} ({', '.join(step.bases)})"
                         " is not in the engine even after pulling it; check its name.")
    _make_image(rt, step, digest, lambda: images.build(step, rt.engine, digest, progress))


# --- import ------------------------------------------------------------------------------

def _import_cache_path(rt: Runtime, step: ImportStep) -> Any:
    return rt.record_path(step.task).with_suffix(".cache.json")


def import_uptodate(rt: Runtime, step: ImportStep) -> bool:
    """Up to date iff the recipe (or the tarball) and changes are as recorded and the engine
    still has the image."""
    if records.read(rt.record_path(step.task)) is None:
        return False
    if not step.recipe and not step.tarball.exists():
        return False
    digest = images.import_digest(step, records.read(_import_cache_path(rt, step)))
    return _made_image_uptodate(rt, step, digest)


def import_action(rt: Runtime, step: ImportStep) -> None:
    """Import the tarball (made by the recipe if needed), or reuse an image with its digest."""
    path = rt.record_path(step.task)
    records.remove(path)
    if step.recipe:
        digest = images.recipe_digest(step)
        _make_image(rt, step, digest, lambda: _import_from_recipe(rt, step, digest))
        return
    cache = images.tarball_cache(step)
    digest = images.import_digest(step, cache)
    # The cache file is not a target: its bytes change when the tarball is touched, and
    # downstream steps must only rerun when the image itself changes.
    records.write(_import_cache_path(rt, step), cache)
    _make_image(rt, step, digest,
                lambda: images.import_tarball(step, rt.engine, digest, progress))


def _import_from_recipe(rt: Runtime, step: ImportStep, digest: str) -> str:
    """Run the recipe unless the tarball it made for this digest is still there; import."""
    cache_path = _import_cache_path(rt, step)
    cache = records.read(cache_path)
    if not (step.tarball.exists() and cache and cache.get("recipe") == digest):
        records.remove(cache_path)
        for command in step.recipe:
            _run_recipe(step, command)
        if not step.tarball.is_file():
            raise RecipeError(f"{step.task}: the recipe succeeded but did not make "
                              f"{step.tarball}. Fix 'recipe:' in {step.where.file}.")
        records.write(cache_path, {"recipe": digest})
    else:
        progress(f"{step.tarball} was made by the same recipe; importing it again")
    return images.import_tarball(step, rt.engine, digest, progress)


def _run_recipe(step: ImportStep, command: str) -> None:
    progress(f"$ {command}")
    with subprocess.Popen(command, shell=True, cwd=step.where.file.parent,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as proc:
        tail: list[str] = []
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                progress(line)
                tail = (tail + [line.rstrip()])[-15:]
        except BaseException:  # Ctrl-C or SIGTERM: stop the recipe too, let it clean up
            proc.terminate()
            proc.wait(timeout=30)
            raise
    if proc.returncode != 0:
        raise RecipeError(f"{step.task}: the recipe failed (exit {proc.returncode}): {command}\n"
                          + "\n".join(tail))


# --- run ---------------------------------------------------------------------------------

def _image_record(rt: Runtime, step: RunStep | PushStep | CommitStep) -> dict[str, Any]:
    image = records.read(rt.record_path(f"{step.exercise}:{step.image}"))
    if image is None:
        raise Ac295Error(f"{step.task}: step '{step.image}' has no record; run it first.")
    return image


def run_action(rt: Runtime, step: RunStep, network: str | None) -> None:
    """Run the one-shot container from the image step's recorded id and check its output."""
    path = rt.record_path(step.task)
    records.remove(path)
    image = _image_record(rt, step)
    outcome = containers.run_once(step, rt.engine, image["image_id"], progress, network)
    containers.check(step, outcome)
    records.write(path, {"task": step.task, "image_id": image["image_id"],
                         "exit_code": outcome.exit_code, "stdout": outcome.stdout,
                         "stderr": outcome.stderr})


# --- push --------------------------------------------------------------------------------

def push_ref(step: PushStep, image_step: ImageStep) -> str:
    """The reference a push step writes: its own ``tag`` or its image step's."""
    return step.tag or image_step.image_ref


def _repo_digest(rt: Runtime, image_id: str, ref: registry.Reference) -> str | None:
    """The digest the engine knows for this image in ``ref``'s repository (after a push/pull)."""
    info = rt.engine.images().get(image_id)
    for repo_digest in info.repo_digests if info else []:
        name, _, digest = repo_digest.partition("@")
        other = registry.Reference.parse(name)
        if (other.registry, other.repository) == (ref.registry, ref.repository):
            return digest
    return None


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
    image_id = _image_record(rt, step)["image_id"]
    if rt.engine.image_id(ref) != image_id:
        images.tag(rt.engine, image_id, ref)
    parsed = registry.Reference.parse(ref)
    served = rt.served_digest(ref)
    if served is not None and served == _repo_digest(rt, image_id, parsed):
        progress(f"{parsed}: the registry already serves {served}; nothing to push")
        digest = served
    else:
        digest, uploaded = registry.push(rt.engine, ref, progress)
        rt.engine.refresh(image_id)
        progress(f"{parsed}: pushed {digest} ({uploaded} layer(s) uploaded)")
    _push_content_tag(rt, step, ref, image_id, digest)
    records.write(path, {"task": step.task, "ref": ref, "image_id": image_id, "digest": digest})


def _push_content_tag(rt: Runtime, step: PushStep, ref: str, image_id: str,
                      digest: str) -> None:
    """Push the image's content tag too (no blob moves: same manifest), for fresh clones."""
    inputs = _image_record(rt, step).get("inputs_digest")
    if not inputs:
        return  # a pulled image: no inputs of ours
    content = images.content_tag(ref, inputs)
    if rt.served_digest(content) == digest:
        return
    images.tag(rt.engine, image_id, content)
    registry.push(rt.engine, content, progress)
    progress(f"{registry.Reference.parse(content)}: content tag pushed")


# --- pull ------------------------------------------------------------------------------

def pull_uptodate(rt: Runtime, step: PullStep) -> bool:
    """Up to date iff the registry serves the recorded digest (one HEAD) and the image is here."""
    record = records.read(rt.record_path(step.task))
    if record is None or rt.engine.image_id(record.get("image_id", "")) is None:
        return False
    return rt.served_digest(step.ref) == record.get("digest")


def pull_action(rt: Runtime, step: PullStep) -> None:
    """Pull the reference (stream errors checked) and record its digest and image id."""
    path = rt.record_path(step.task)
    records.remove(path)
    image_id = registry.pull(rt.engine, step.ref, progress)
    # the digest of what was pulled (from the engine), not of what the tag names a moment later
    digest = _repo_digest(rt, image_id, registry.Reference.parse(step.ref)) \
        or rt.served_digest(step.ref)
    if digest is None:
        raise Ac295Error(f"{step.task}: {step.ref} was pulled but the registry serves no "
                         "digest for it now; rerun.")
    records.write(path, {"task": step.task, "ref": step.ref, "image_id": image_id,
                         "digest": digest})


# --- commit ------------------------------------------------------------------------------

def commit_uptodate(rt: Runtime, step: CommitStep) -> bool:
    """Up to date iff source image and commands are as recorded and the result is still here."""
    source = records.read(rt.record_path(f"{step.exercise}:{step.image}"))
    if source is None:
        return False
    return _made_image_uptodate(rt, step, images.commit_digest(source["image_id"],
                                                               step.commands))


def commit_action(rt: Runtime, step: CommitStep) -> None:
    """Run the commands in a container from the source image and commit it under the tag."""
    path = rt.record_path(step.task)
    records.remove(path)
    source_id = _image_record(rt, step)["image_id"]
    digest = images.commit_digest(source_id, step.commands)
    _make_image(rt, step, digest,
                lambda: containers.commit(step, rt.engine, source_id, digest, progress))


# --- services and networks (ephemeral: no records, removed by doit's teardown) -----------

def service_action(rt: Runtime, step: RunStep, network: str | None) -> None:
    """Start a service container and wait until it is ready."""
    services.start(step, rt.engine, _image_record(rt, step)["image_id"], network, progress)


def service_teardown(rt: Runtime, step: RunStep) -> None:
    """Remove a service container at the end of doit's run (also after failure or Ctrl-C)."""
    services.stop(step, rt.engine, progress)


def network_action(rt: Runtime, step: NetworkStep) -> None:
    """Create the network fresh."""
    services.create_network(step, rt.engine, progress)


def network_teardown(rt: Runtime, step: NetworkStep) -> None:
    """Remove the network at the end of doit's run, after its services."""
    services.remove_network(step, rt.engine, progress)


# --- sh ----------------------------------------------------------------------------------

def sh_clear_targets(step: ShStep) -> None:
    """Delete a recipe's target files before it runs (Make's .DELETE_ON_ERROR).

    doit keeps its last success when a run is interrupted, so a half-written target left by
    Ctrl-C would be taken as done next time; a target that is not there forces the rerun.
    """
    for target in step.targets:
        if target.is_file() or target.is_symlink():
            target.unlink()


def sh_snapshot(step: ShStep, box: dict[str, str]) -> None:
    """Hash a recipe's deps before it runs (see ``sh_check_unchanged``)."""
    box.clear()
    box.update({str(d): images.file_sha256(d) for d in step.deps if d.is_file()})


def sh_check_unchanged(step: ShStep, box: dict[str, str]) -> None:
    """Fail a recipe whose deps changed while it ran.

    doit records its file_deps' state after the task: a dep edited during the recipe would be
    recorded as built (doit issue 119). Failing here keeps the old state, so the next run
    reruns the recipe on the new content.
    """
    moved = [path for path, digest in box.items()
             if not Path(path).is_file() or images.file_sha256(Path(path)) != digest]
    if moved:
        raise RecipeError(f"{step.task}: {', '.join(moved)} changed while the recipe ran; "
                          "its result may be from the old content. Run again.")


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


# --- the pipeline lock -------------------------------------------------------------------

def lock_action(rt: Runtime, steps: list[Any]) -> None:
    """Write ac295.lock from this machine's records."""
    facts = pipelock.current(rt.config, steps)
    pipelock.write(rt.config.root / pipelock.LOCK_FILE, facts)
    progress(f"{pipelock.LOCK_FILE}: {len(facts)} step(s) locked")


def verify_action(rt: Runtime, steps: list[Any]) -> None:
    """Compare this machine's records with ac295.lock; fail with one line per difference."""
    path = rt.config.root / pipelock.LOCK_FILE
    lines = pipelock.differences(pipelock.read(path), pipelock.current(rt.config, steps))
    if lines:
        raise Ac295Error(f"{len(lines)} difference(s) from {path.name} (accept this machine's "
                         "results with `doit lock`):\n" + "\n".join(lines))
    progress(f"{len(steps)} step(s) match {path.name}")
