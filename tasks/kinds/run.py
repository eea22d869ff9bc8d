"""``run:`` (one-shot): run a container from an image step's result and check its output.

The container is isolated as ``tasks.kinds.isolation`` says (no network unless it names
one, no capabilities, a read-only root, bounded resources and output); ``user:`` and
``writable:`` change that. It reruns when its image's content or the step's own config changes; its record holds only
the outcome, so downstream steps rerun only if the outcome changed. On a network it talks to
live services whose images are not among its inputs, so there it runs every time.
(``run:`` with ``detach: true`` is a service: ``tasks.kinds.service``.)

``runtime: rootless`` runs it with podman as an unprivileged user, with no daemon, from a
``save:`` step's single-file image (``tasks.engine.rootless``); ``runtime: lxc`` with LXC
from the image's file system, unpacked once per image content under the state folder
(``tasks.engine.lxc``); ``runtime: docker`` (the default) on the Docker Engine.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager, Iterator, Mapping

from ..cluster import jobs
from ..engine import containers, lxc, rootless
from ..engine import shells as engine_shells
from ..engine.options import ContainerOptions
from ..errors import (CheckFailed, ClusterError, RecordMissing, ShellError, SpecError,
                      did_you_mean)
from ..dsl.fields import Fields
from ..dsl.model import LocalRef, Step
from . import expect as expect_mod
from . import isolation
from .actions import action, recorded
from ..progress import progress
from . import container, shells
from .base import Key, Kind, Session, ShellRequest, TaskContext
from .expect import Expect
from .kept import kept, prefix
from .reuse import image_facts
from .runtime import Runtime

#: The keys of a service that a one-shot run may not have.
SERVICE_ONLY = ("name", "aliases", "ports", "ready", "healthcheck")


@dataclass(frozen=True, kw_only=True)
class RunStep(Step):
    """Run a container from an image step's result to the end and check ``expect``."""

    kind: ClassVar[str] = "run"
    image: str  # name of the image step in the same exercise
    command: tuple[str, ...] | None
    env: Mapping[str, str]
    expect: Expect
    timeout: int
    network: str | None = None  # name of a network step in the same exercise
    runtime: str = "docker"  # or "rootless": podman, from a save step's archive; or "lxc"
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    volumes: tuple[container.Use, ...] = ()
    writable: bool = False  # a writable root file system (default: read-only)

    @property
    def source(self) -> str:
        """The task of the image step."""
        return f"{self.exercise}:{self.image}"


def _judge(step: RunStep, outcome: Any, progress: Any, recording: Any) -> None:
    """Show what a container printed, check it against the step's ``expect:`` and record it
    (the podman and LXC runs; a Docker run shows its output as it comes)."""
    for line in outcome.stdout.splitlines():
        progress(line)
    expect_mod.verify(step.task, step.expect, outcome.exit_code, outcome.stdout,
                      outcome.stderr, step.where.file)
    recording.data = {"exit_code": outcome.exit_code, "stdout": outcome.stdout,
                      "stderr": outcome.stderr}


def run_rootless(rt: Runtime, step: RunStep, archive: Path) -> None:
    """Run the one-shot container with rootless podman from the archive, and check it."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        if not archive.is_file():
            raise RecordMissing(f"{step.task}: {archive} is missing; run {step.source} again.")
        user = rootless.ensure_user()
        image_id = rootless.load(archive)
        progress(f"podman run as {user.pw_name} (uid {user.pw_uid}), no daemon: "
                 f"{image_id[7:19]} from {archive.name}")
        outcome = rootless.run(image_id, step.command, step.env, step.timeout)
        _judge(step, outcome, progress, recording)
        recording.local = {"image_id": image_id, "host_uid": outcome.host_uid}


@contextlib.contextmanager
def rootless_shell(rt: Runtime, step: RunStep, archive: Path, request: ShellRequest
                   ) -> Iterator[Session]:
    """A rootless run's shell: podman, as the unprivileged user, from the save step's
    archive, with no network; the container goes when the shell ends."""
    with request.setting_up():
        if not archive.is_file():
            raise ShellError(f"{archive} is missing: run `script/doit {step.source}` first, "
                             "then open the shell.")
        user = rootless.ensure_user()
        image_id = rootless.load(archive)
    name = engine_shells.name_for(prefix(rt), step.task)
    argv = engine_shells.rootless_argv(user, image_id, name, engine_shells.hostname_for(
        step.task), rt.engine.labels(step.task), step.env, step.command,
        shell=not request.own_command)
    try:
        yield Session(argv, f"{step.task}'s environment: podman as {user.pw_name} (uid "
                            f"{user.pw_uid}), no daemon, no network, from {archive.name}")
    finally:
        rootless.podman(user.pw_name, ["rm", "--force", "--time", "0", name], check=False)


def lxc_store(rt: Runtime) -> Path:
    """Where images' file systems are unpacked for LXC (one folder per image content)."""
    return rt.config.state / "lxc" / "rootfs"


def run_lxc(rt: Runtime, step: RunStep) -> None:
    """Run the one-shot container with LXC on the image's file system, and check it. The
    folder is made from the image once per content (its content digest names it)."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        record, image_id = image_facts(rt, step.source, step.task)
        digest = str(record.get("content_digest") or image_id)
        key = digest.split(":", 1)[-1]
        made = lxc.stored(lxc_store(rt), key) is None
        if made:
            progress(f"unpacking {image_id[7:19]} for LXC (once per image content)")
        fs = lxc.rootfs(rt.engine, image_id, lxc_store(rt), key)
        progress(f"lxc-execute on {fs.path.name[:12]} ({'made now' if made else 'reused'}), "
                 "no network")
        outcome = lxc.run(fs, step.command, step.env, step.timeout)
        _judge(step, outcome, progress, recording)
        recording.local = {"image_id": image_id, "rootfs": str(fs.path)}


@contextlib.contextmanager
def lxc_shell(rt: Runtime, step: RunStep, request: ShellRequest) -> Iterator[Session]:
    """An LXC run's shell: lxc-execute on the image's folder (made now if it is not there),
    a loopback only; its config and overlay go when the shell ends."""
    with request.setting_up():
        try:
            record, image_id = image_facts(rt, step.source, step.task)
        except RecordMissing:
            raise ShellError(f"{step.task} has no image yet: run `script/doit {step.source}` "
                             "first, then open the shell.") from None
        key = str(record.get("content_digest") or image_id).split(":", 1)[-1]
        fs = lxc.rootfs(rt.engine, image_id, lxc_store(rt), key)
    command = list(step.command or fs.command) if request.own_command else \
        engine_shells.SHELL
    with lxc.session(fs, command, step.env) as argv:
        yield Session(argv, f"{step.task}'s environment: LXC on {step.source}'s image "
                            f"({fs.path.name[:12]}), no daemon, a loopback only")


def run(rt: Runtime, step: RunStep, network: str | None,
        options: ContainerOptions | None = None) -> None:
    """Run the one-shot container from the image step's recorded id and check its output;
    a container that fails is kept (committed), and the error's last line opens it."""
    with recorded(rt.record_path(step.task), step.task) as recording, \
            kept(rt, step.task, functools.partial(expect_mod.unmet, step.expect)) as keep:
        _, image_id = image_facts(rt, step.source, step.task)
        swarm = rt.swarm
        outcome: containers.Outcome
        node: dict[str, str] = {}
        if swarm is not None and options:
            raise ClusterError(f"{step.task}: {', '.join(container.used(step))} cannot be "
                               "used on the cluster yet. Run this exercise without cluster "
                               "mode.")
        profile = isolation.profile("", step.writable, network)  # user: in ``options``
        if swarm is not None:  # a Swarm job: the same checks, the same record
            job = jobs.run(rt.engine, swarm, image_id, step.command, step.env, step.timeout,
                           rt.engine.labels(step.task), step.task, progress, profile)
            for line in job.stdout.splitlines():
                progress(line)
            progress(f"(ran on {job.node})")
            outcome, node = job, {"node": job.node}
        else:
            outcome = containers.run_once(rt.engine, image_id, step.command, step.env,
                                          step.timeout, rt.engine.labels(step.task), step.task,
                                          progress, profile, options, keep=keep)
        try:
            expect_mod.verify(step.task, step.expect, outcome.exit_code, outcome.stdout,
                              outcome.stderr, step.where.file)
        except CheckFailed as err:
            told = isolation.hints(outcome.stdout + outcome.stderr)
            if not told:
                raise
            raise CheckFailed(f"{err}\n--- the container is isolated ---\n"
                              + "\n".join(f"- {line}" for line in told)) from None
        # What the checks read, and nothing of the image: the same output from a rebuilt
        # image leaves this record as it was, and what reads it stays up to date.
        recording.data = {"exit_code": outcome.exit_code, "stdout": outcome.stdout,
                          "stderr": outcome.stderr}
        recording.local = {"image_id": image_id, **node}


#: Keys a one-shot run and a service share.
SHARED_KEYS = (
    Key("command", "command", "the command: a list of words, or one string split as a "
        "shell would (default: the image's CMD)"),
    Key("env", "mapping", "environment variables"),
    Key("network", "string", "a network step of this exercise to join"),
    Key("detach", "boolean", "true: a service, started and left running until the run ends"),
    *container.KEYS,
)
RUNTIMES = ("docker", "rootless", "lxc")


def container_refs(image: str, network: str | None) -> list[LocalRef]:
    """What a container step names in its exercise: its image step, and maybe a network."""
    refs = [LocalRef("run", image, "image")]
    if network:
        refs.append(LocalRef("network", network, "network"))
    return refs


class Run(Kind[RunStep]):
    name = "run"
    shape = "ellipse"
    keyword = Key("run", "string", "the image step whose result runs", required=True)
    keys = SHARED_KEYS + (expect_mod.KEY,
                          Key("timeout", "integer", "seconds it may take (default 300)"),
                          Key("runtime", "string", "docker (default); rootless: podman as "
                              "an unprivileged user, no daemon ('run:' then names a save "
                              "step); lxc: LXC on the image's file system, no network"),
                          isolation.WRITABLE)
    summary = "run a one-shot container and check its exit code and output"
    lock_fields = ("exit_code", "stdout", "stderr")
    lock_doc = "`exit_code`, `stdout`, `stderr`"
    misplaced = {key: (f"'{key}' is only for services.",
                       "Add 'detach: true' to run this container as a service.")
                 for key in SERVICE_ONLY}

    def selects(self, node: Mapping[str, Any]) -> bool:
        return node.get("detach") is not True

    def schema(self, properties: dict[str, Any], required: list[str]) -> None:
        # a one-shot run and a service share `run:`; `detach` tells them apart
        properties["detach"] = {"const": False, "description": "false or absent: one-shot"}

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> RunStep:
        f.value("detach", bool)
        runtime = f.text("runtime") or "docker"
        if runtime not in RUNTIMES:
            raise SpecError(f.where("runtime"), f"unknown runtime '{runtime}'.",
                            did_you_mean(runtime, RUNTIMES))
        if runtime == "rootless" and "network" in f.node:
            raise SpecError(f.where("network"), "a rootless run has no network (podman runs "
                            "it with --network none).", "Remove 'network:' or the runtime.")
        if runtime == "lxc" and "network" in f.node:
            raise SpecError(f.where("network"), "an LXC run has no network: 'network:' names "
                            "a Docker network, which LXC containers do not join.",
                            "Remove 'network:', or run it on Docker (no 'runtime:').")
        for key in (*container.NAMES, isolation.WRITABLE.name):
            if runtime in ("rootless", "lxc") and key in f.node:
                what = "an LXC" if runtime == "lxc" else "a rootless"
                raise SpecError(f.where(key), f"{what} run has no '{key}' here.",
                                f"Remove '{key}' or the runtime.")
        return RunStep(**common, image=f.required("run"), command=f.command("command"),
                       env=f.mapping("env"), expect=expect_mod.parse(f),
                       timeout=f.positive("timeout") or 300, network=f.text("network"),
                       runtime=runtime, writable=isolation.writable(f),
                       **container.parse(f, folder))

    def local_refs(self, step: RunStep) -> list[LocalRef]:
        if step.runtime == "rootless":
            return [LocalRef("run", step.image, "archive")]
        return container_refs(step.image, step.network) + container.refs(step)

    def parse_inputs(self, step: RunStep) -> tuple[Path, ...]:
        return container.binds(step)

    def ephemeral(self, step: RunStep) -> str:
        if step.network:
            return "on a network it talks to live services"
        if any(u.volume for u in step.volumes):
            return "it mounts a volume, which lives only as long as the run"
        if step.volumes:
            return "it mounts files of the exercise, read as they are when it runs"
        return ""

    def task(self, step: RunStep, ctx: TaskContext) -> dict[str, Any]:
        if step.runtime == "rootless":
            archive = getattr(ctx.step(step.image), "archive")
            return {"actions": [action(run_rootless, ctx.rt, step, archive)]}
        if step.runtime == "lxc":
            return {"actions": [action(run_lxc, ctx.rt, step)]}
        network = getattr(ctx.step(step.network), "network") if step.network else None
        return {"actions": [action(run, ctx.rt, step, network, container.options(step, ctx))]}

    def shell(self, step: RunStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        rt = ctx.rt
        if step.runtime == "rootless":
            return rootless_shell(rt, step, getattr(ctx.step(step.image), "archive"), request)
        if step.runtime == "lxc":
            return lxc_shell(rt, step, request)
        network = getattr(ctx.step(step.network), "network") if step.network else None
        options = container.options(step, ctx)

        def plan() -> shells.Plan:
            failed = shells.failed_plan(rt, step.task, request, network, options)
            if failed is not None:
                return failed
            return shells.Plan(
                image=shells.recorded_image(rt, step.source), shell=not request.own_command,
                what=f"{step.task}'s environment: {step.source}'s image, the step's env"
                     + (" and its command" if request.own_command else ""),
                command=step.command, env=step.env, network=network, options=options)

        return shells.container_session(rt, step.task, request, plan)
