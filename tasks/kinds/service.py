"""``run:`` with ``detach: true``: a service, started, probed, and removed when the run ends.

Services are a live system, not an artifact: they keep no record and start every time. They
are removed when doit's run ends (after success, after a failed task and after Ctrl-C), by the
reporter in doit's main process (``tasks.reporter``), and leftovers of a killed run are swept
before the next start.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, ContextManager, Iterator, Mapping

from ..engine import services
from ..engine import shells as engine_shells
from ..engine.options import ContainerOptions, Health
from ..errors import ClusterError, ShellError, SpecError
from ..dsl.fields import Fields, local_name
from ..dsl.model import LocalRef, Step
from .actions import action
from ..progress import progress
from ..names import shell_line
from . import container, shells
from .container import Use
from .base import Key, Kind, Session, ShellRequest, TaskContext
from .reuse import image_facts
from .run import SHARED_KEYS, container_refs
from .runtime import Runtime

_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) < 65536


READY = Key("ready", "object", "when the service counts as ready", keys=(
    Key("log", "regex", "a regular expression its log must match"),
    Key("http", "string", "a URL that must answer (any status below 500)"),
    Key("timeout", "integer", "seconds to wait (default 60; with a healthcheck, as long as "
        "its retries take)"),
))


@dataclass(frozen=True, kw_only=True)
class ServiceStep(Step):
    """Start a container from an image step's result, wait for ``ready``, leave it running."""

    kind: ClassVar[str] = "service"
    image: str
    command: tuple[str, ...] | None
    env: Mapping[str, str]
    network: str | None = None
    container: str | None = None  # container name (spec key `name`)
    aliases: tuple[str, ...] = ()
    ports: Mapping[str, str] = field(default_factory=dict)  # container port -> host port
    ready: services.Probe | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    volumes: tuple[Use, ...] = ()
    healthcheck: Health | None = None

    @property
    def source(self) -> str:
        return f"{self.exercise}:{self.image}"

    @property
    def container_name(self) -> str:
        """Its container's name: ``name:`` or ``<exercise>-<step>``, after ``local_prefix``."""
        return self.container or f"{self.exercise}-{self.name}"


def start(rt: Runtime, step: ServiceStep, network: str | None,
          options: ContainerOptions | None = None) -> None:
    """Start a service container (a Swarm service in cluster mode); wait until it is ready."""
    _, image_id = image_facts(rt, step.source, step.task)
    service = services.Service(
        name=step.container_name, task=step.task, command=step.command, env=step.env,
        network=network, aliases=step.aliases, ports=step.ports, probe=step.ready,
        options=options or ContainerOptions(),
        ports_at=f"{step.at('ports').file}:{step.at('ports').line}" if step.ports else "")
    swarm = rt.swarm
    if swarm is not None and options:
        raise ClusterError(f"{step.task}: {', '.join(container.used(step, step.healthcheck))} "
                           "cannot be used on the cluster yet. Run this exercise without "
                           "cluster mode.")
    if swarm is not None:
        from ..cluster import services as cluster_services

        cluster_services.start(rt.engine, swarm, image_id, service, rt.config.state,
                               rt.engine.labels(step.task), progress)
    else:
        services.start(rt.engine, image_id, service, progress)


@contextlib.contextmanager
def shell(rt: Runtime, step: ServiceStep, network: str | None, options: ContainerOptions,
          request: ShellRequest) -> Iterator[Session]:
    """A service's shell: ``docker exec`` into its container while a run keeps it running
    (no lock: the run that started it holds it); else a container made as the run would
    start it (image, env, network with its aliases, ports), with a shell instead of its
    command (``-c``: its command, on this terminal)."""
    name = step.container_name
    if engine_shells.running(rt.engine, name, step.task):
        if request.own_command:
            raise ShellError(f"{step.task} runs its command already, in {name} (a run keeps "
                             f"it up): drop -c for a shell in it ({shell_line(step.task)}).")
        yield Session(engine_shells.exec_argv(name), f"the running service {name}, which a "
                      "run in progress keeps up (docker exec); it ends when that run ends")
        return

    def plan() -> shells.Plan:
        return shells.Plan(
            image=shells.recorded_image(rt, step.source), shell=not request.own_command,
            what=f"{step.task}'s environment, as a run starts it ({step.source}'s image, its "
                 "env, aliases and ports" + (", its command)" if request.own_command else ")"),
            command=step.command, env=step.env, network=network, aliases=step.aliases,
            ports=step.ports, options=options)

    with shells.container_session(rt, step.task, request, plan) as session:
        yield session


def stop(rt: Runtime, step: ServiceStep) -> None:
    """Remove a service container at the end of doit's run (also after failure or Ctrl-C)."""
    swarm = rt.swarm
    if swarm is not None:
        from ..cluster import services as cluster_services

        cluster_services.stop(swarm, step.container_name, rt.config.state, progress)
    else:
        services.stop(rt.engine, step.container_name, step.task, progress)


class Service(Kind[ServiceStep]):
    name = "service"
    shape = "doubleoctagon"
    keyword = Key("run", "string", "the image step whose result runs", required=True)
    keys = SHARED_KEYS + (
        Key("name", "string", "the container's name (default <exercise>-<step>); "
            "local_prefix is put first"),
        Key("aliases", "strings", "its names on the network"),
        Key("ports", "mapping", "container port: host port, published on 127.0.0.1 only"),
        READY, container.HEALTHCHECK)
    summary = "start a service container (detach: true), removed when the run ends"
    misplaced = {"expect": ("a service (detach: true) has no 'expect'.",
                            "Check it with 'ready:' or with a later step."),
                 "timeout": ("a service (detach: true) has no 'timeout'.",
                             "It runs until the run ends; bound its start with "
                             "'ready: {timeout: N}'.")}

    def selects(self, node: Mapping[str, Any]) -> bool:
        return node.get("detach") is True

    def schema(self, properties: dict[str, Any], required: list[str]) -> None:
        # a one-shot run and a service share `run:`; `detach: true` makes it a service
        properties["detach"] = {"const": True,
                                "description": properties["detach"]["description"]}
        required.append("detach")

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> ServiceStep:
        ready = None
        health = container.parse_health(f)
        r = f.sub("ready", tuple(k.name for k in READY.keys))
        if r is not None:
            if not r.node.get("log") and not r.node.get("http") and health is None:
                raise SpecError(f.where("ready"), "a readiness probe needs 'log' or 'http' "
                                "(or the service a 'healthcheck:').")
            http = r.text("http")
            if http is not None and not re.match(r"^https?://[^/\s]+", http):
                raise SpecError(r.where("http"), f"'{http}' is not a URL to ask.",
                                "Write it as http://127.0.0.1:PORT/ (a port the service "
                                "publishes).")
            ready = services.Probe(log=r.regex("log"), http=http,
                                   timeout=r.positive("timeout") or
                                   (health.bound() if health else 60),
                                   healthy=health is not None)
        elif health is not None:
            ready = services.Probe(timeout=health.bound(), healthy=True)
        if "aliases" in f.node and "network" not in f.node:
            raise SpecError(f.where("aliases"), "aliases name a container on a network.",
                            "Add 'network:' (a network step of this exercise).")
        ports = f.mapping("ports")
        for container_port, host_port in ports.items():
            number, _, protocol = container_port.partition("/")
            if not _port(number) or not _port(host_port) or protocol not in ("", "tcp", "udp"):
                raise SpecError(f.where("ports"), f"'{container_port}: {host_port}' is not "
                                "'container port: host port' with numbers (ports 1 to 65535; "
                                "the container's may end /tcp or /udp).")
        written = f.text("name") or f"{common['exercise']}-{common['name']}"
        if not _CONTAINER_NAME.match(written):
            raise SpecError(f.where("name"), f"'{written}' cannot name a container.",
                            "Docker takes only ASCII letters, digits, '_', '.' and '-', "
                            "starting with a letter or digit.")
        name = local_name(written, f.variables)
        aliases = f.texts("aliases")
        if name != written and "network" in f.node and written not in aliases:
            aliases += (written,)  # the others on its network still find it by that name
        return ServiceStep(**common, image=f.required("run"), command=f.command("command"),
                           env=f.mapping("env"), network=f.text("network"),
                           container=name, aliases=aliases, ports=ports,
                           ready=ready, healthcheck=health, **container.parse(f, folder))

    def local_refs(self, step: ServiceStep) -> list[LocalRef]:
        return container_refs(step.image, step.network) + container.refs(step)

    def parse_inputs(self, step: ServiceStep) -> tuple[Path, ...]:
        return container.binds(step)

    def ephemeral(self, step: ServiceStep) -> str:
        return "a service is a live system: started, checked and removed in every run"

    def task(self, step: ServiceStep, ctx: TaskContext) -> dict[str, Any]:
        network = getattr(ctx.step(step.network), "network") if step.network else None
        options = container.options(step, ctx, step.healthcheck)
        return {"actions": [action(start, ctx.rt, step, network, options)],
                "meta": {"ac295_end": [action(stop, ctx.rt, step)]}}

    def shell(self, step: ServiceStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        network = getattr(ctx.step(step.network), "network") if step.network else None
        return shell(ctx.rt, step, network, container.options(step, ctx), request)
