"""Services, networks and volumes: what keeps existing while later steps talk to it.

A service is started, probed until ready, and removed when doit's run ends (after success,
after a failed task and after Ctrl-C; see ``tasks.reporter``). Its network and its named
volumes go the same way, after the containers. Leftovers of a run that was killed outright
(same name, same label) are swept before a new one starts.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..errors import EngineError, ServiceError
from .boundary import translated
from .client import CONTAINER_LIMITS, LABEL_PROJECT, LABEL_TASK, Engine
from .options import ContainerOptions
from ..progress import Progress

LABEL_EPHEMERAL = "org.ac295.ephemeral"


@dataclass(frozen=True)
class Probe:
    """When a service is ready: a log line, an HTTP answer and/or Docker's "healthy" (its
    health check, see ``options.Health``), all within a timeout."""

    log: str | None = None
    http: str | None = None
    timeout: int = 60
    healthy: bool = False


@dataclass(frozen=True)
class Service:
    """A service container to start: plain values, as the step spells them out."""

    name: str
    task: str
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    aliases: Sequence[str] = ()
    ports: Mapping[str, str] = field(default_factory=dict)  # container port -> host port
    probe: Probe | None = None
    options: ContainerOptions = field(default_factory=ContainerOptions)
    ports_at: str = ""  # where the spec publishes them ("file:line"), for the error


def _ours(labels: dict[str, str] | None, task: str | None, engine: Engine) -> bool:
    """True if these labels say this project copy made the thing (for ``task``, if given)."""
    labels = labels or {}
    return labels.get(LABEL_EPHEMERAL) == "1" and labels.get(LABEL_PROJECT) == engine.project \
        and (task is None or labels.get(LABEL_TASK) == task)


def _remove_container(engine: Engine, ident: str, task: str) -> bool:
    """Remove a container this project made for ``task``; refuse to touch anyone else's."""
    import docker.errors

    try:
        attrs = engine.client.api.inspect_container(ident)
    except docker.errors.NotFound:
        return False
    if not _ours((attrs.get("Config") or {}).get("Labels"), task, engine):
        raise EngineError(f"{task}: a container named {ident} exists and this project did not "
                          "make it. Remove or rename it, or set 'name:' in the step.")
    try:
        engine.client.api.remove_container(attrs["Id"], force=True)
    except docker.errors.NotFound:
        return False
    return True


@translated
def create_network(engine: Engine, name: str, task: str, progress: Progress) -> str:
    """Create network ``name`` fresh, removing a stale one (and its labelled containers)."""
    client = engine.client
    for stale in client.networks.list(names=[name]):
        if stale.name != name:
            continue
        stale.reload()
        if not _ours(stale.attrs.get("Labels"), task, engine):
            raise EngineError(f"{task}: a network named {name} exists and this "
                              "project did not make it. Remove it (docker network rm) or "
                              "rename the step's network.")
        for container in stale.containers:
            if _ours(container.labels, None, engine):
                container.remove(force=True)
            else:
                raise EngineError(f"{task}: the network {name} exists and "
                                  f"container {container.name} (not made by this project) is "
                                  "attached to it. Remove it or rename the network.")
        stale.remove()
        progress(f"removed stale network {name}")
    network = client.networks.create(name, driver="bridge",
                                     labels=engine.labels(task, **{LABEL_EPHEMERAL: "1"}))
    progress(f"network {name} created")
    return str(network.id)


@translated
def remove_network(engine: Engine, name: str, task: str, progress: Progress) -> None:
    """Remove network ``name`` and any of our containers still attached to it."""
    for network in engine.client.networks.list(names=[name]):
        if network.name != name:
            continue
        network.reload()
        if not _ours(network.attrs.get("Labels"), task, engine):
            continue
        for container in network.containers:
            if _ours(container.labels, None, engine):
                container.remove(force=True)
        network.remove()
        progress(f"network {name} removed")


@translated
def create_volume(engine: Engine, name: str, task: str, progress: Progress) -> None:
    """Create named volume ``name`` fresh (empty), removing a stale one of ours first."""
    import docker.errors

    client = engine.client
    try:
        stale = client.volumes.get(name)
    except docker.errors.NotFound:
        stale = None
    if stale is not None:
        if not _ours(stale.attrs.get("Labels"), task, engine):
            raise EngineError(f"{task}: a volume named {name} exists and this project did not "
                              "make it. Remove it (docker volume rm) or rename the step's "
                              "volume.")
        for container in client.containers.list(all=True, filters={"volume": name}):
            if not _ours(container.labels, None, engine):
                raise EngineError(f"{task}: the volume {name} exists and container "
                                  f"{container.name} (not made by this project) uses it. "
                                  "Remove it or rename the volume.")
            container.remove(force=True)
        stale.remove(force=True)
        progress(f"removed stale volume {name}")
    client.volumes.create(name, labels=engine.labels(task, **{LABEL_EPHEMERAL: "1"}))
    progress(f"volume {name} created")


@translated
def remove_volume(engine: Engine, name: str, task: str, progress: Progress) -> None:
    """Remove named volume ``name`` (after its containers) if this project made it."""
    import docker.errors

    try:
        volume = engine.client.volumes.get(name)
    except docker.errors.NotFound:
        return
    if not _ours(volume.attrs.get("Labels"), task, engine):
        return
    for container in engine.client.containers.list(all=True, filters={"volume": name}):
        if _ours(container.labels, None, engine):
            container.remove(force=True)
    try:
        volume.remove(force=True)
    except docker.errors.NotFound:
        return
    progress(f"volume {name} removed")


@translated
def start(engine: Engine, image_id: str, service: Service, progress: Progress) -> str:
    """Start a service container and wait until its readiness probe passes.

    Raises:
        ServiceError: it exited, or was not ready in time (its logs are in the message); the
            container is removed first.
    """
    client = engine.client
    name, task = service.name, service.task
    if _remove_container(engine, name, task):
        progress(f"removed stale container {name} (left by an interrupted run)")
    kwargs: dict[str, Any] = {}
    if service.network:
        kwargs["network"] = service.network
        kwargs["networking_config"] = {service.network: client.api.create_endpoint_config(
            aliases=list(service.aliases) or None)}
    container = client.containers.create(
        image_id, command=list(service.command) if service.command is not None else None,
        name=name, environment=dict(service.env), detach=True,
        labels=engine.labels(task, **{LABEL_EPHEMERAL: "1"}),
        ports={port if "/" in port else f"{port}/tcp": ("127.0.0.1", int(host))
               for port, host in service.ports.items()}, **kwargs,
        **service.options.create_kwargs(), **CONTAINER_LIMITS)
    try:
        _start(engine, container, service)
        published = ", ".join(f"127.0.0.1:{h}->{c}" for c, h in service.ports.items())
        progress(f"service {name} started" + (f" ({published})" if published else ""))
        if service.probe is not None:
            _wait_ready(task, service.probe, container, progress)
    except BaseException:
        container.remove(force=True)
        raise
    return str(container.id)


_TAKEN = re.compile(r"(?:Bind for|listen tcp4?) (?:0\.0\.0\.0|127\.0\.0\.1|\[::\]|):?(\d+)"
                    r".*(?:port is already allocated|address already in use)", re.S)


def _start(engine: Engine, container: Any, service: Service) -> None:
    """Start the container; a host port that something holds is named with its holder."""
    import docker.errors

    try:
        container.start()
    except docker.errors.APIError as err:
        found = _TAKEN.search(str(err.explanation or err))
        if not found:
            raise
        port = found.group(1)
        holders = [c.name for c in engine.client.containers.list(filters={"publish": port})
                   if c.id != container.id]
        holder = (f"the container {', '.join(holders)} publishes it" if holders else
                  "another program on this machine listens there (`ss -ltnp 'sport = :"
                  f"{port}'` shows which)")
        where = f" ('ports:' at {service.ports_at})" if service.ports_at else ""
        raise ServiceError(f"{service.task}: cannot publish the service on 127.0.0.1:{port}"
                           f"{where}: the port is taken; {holder}. Stop that, or publish "
                           "another host port there.") from None


@translated
def stop(engine: Engine, name: str, task: str, progress: Progress) -> None:
    """Remove a service's container (at the end of the run)."""
    if _remove_container(engine, name, task):
        progress(f"service {name} removed")


def wait_ready(task: str, name: str, probe: Probe, logs: Callable[[], str],
               check_alive: Callable[[], None], progress: Progress, where: str = "",
               interval: float = 0.2,
               health: Callable[[], tuple[str, str]] | None = None) -> None:
    """Poll (at least once) until the probe's log line has appeared, its URL answers and
    (``probe.healthy``) Docker says the container is healthy; after the probe's timeout,
    fail saying what each probe got, with the service's logs. One loop for a local
    container and a Swarm service: ``check_alive`` raises when the service ended before it
    was ready, ``where`` names the place in the error (" on the cluster"), ``health``
    returns Docker's health status and the last check's output.

    Raises:
        ServiceError: not ready in time, unhealthy (or what ``check_alive`` raises).
    """
    deadline = time.monotonic() + probe.timeout
    log_ok, http_ok, got = probe.log is None, probe.http is None, "nothing yet"
    health_ok = not probe.healthy
    if not health_ok and health is None:
        raise ServiceError(f"{task}: a health check cannot be read{where}; use 'ready: log:' "
                           "or 'ready: http:' there.")
    said = ""
    while True:
        check_alive()
        if not log_ok and probe.log is not None:
            log_ok = re.search(probe.log, logs(), re.MULTILINE) is not None
        if not http_ok and probe.http is not None:
            http_ok, got = ask(probe.http)
        if not health_ok and health is not None:
            status, said = health()
            if status == "unhealthy":
                raise ServiceError(f"{task}: the service's health check failed{where} (last "
                                   f"check: {said or 'no output'}). Fix the service or its "
                                   f"'healthcheck:'.\n--- logs ---\n{logs()}")
            health_ok = status == "healthy"
        if log_ok and http_ok and health_ok:
            progress(f"service {name} is ready" + (" (healthy)" if probe.healthy else ""))
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    found = []
    if probe.log is not None:
        found.append(f"'ready: log: {probe.log}' " + ("matched" if log_ok else
                                                      "matched no line of its log"))
    if probe.http is not None:
        found.append(f"'ready: http: {probe.http}' got {got}" + (
            " (ready means a status below 500)" if not http_ok and got.startswith("HTTP")
            else ""))
    if probe.healthy:
        found.append("its health check " + ("passed" if health_ok else "has not passed yet")
                     + (f" (last check: {said})" if said and not health_ok else ""))
    shown = logs() or "(it printed nothing)"
    raise ServiceError(f"{task}: the service was not ready{where} within {probe.timeout} s: "
                       f"{'; '.join(found)}. Raise 'ready: timeout:' or fix the service."
                       f"\n--- logs ---\n{shown}")


def _wait_ready(task: str, probe: Probe, container: Any, progress: Progress) -> None:
    def alive() -> None:
        container.reload()
        if container.status in ("exited", "dead"):
            raise ServiceError(f"{task}: the service exited before it was ready "
                               f"(exit code {container.attrs['State'].get('ExitCode')}).\n"
                               f"--- logs ---\n{_logs(container)}")

    def health() -> tuple[str, str]:  # read after alive()'s reload
        state = (container.attrs.get("State") or {}).get("Health") or {}
        checks = state.get("Log") or [{}]
        said = " ".join(str(checks[-1].get("Output") or "").split())[-300:]
        return str(state.get("Status") or "none"), said

    wait_ready(task, container.name, probe, lambda: _logs(container), alive, progress,
               health=health)


def _logs(container: Any) -> str:
    return container.logs(stdout=True, stderr=True).decode("utf-8", "replace").rstrip()


def answers(url: str) -> bool:
    """True if the URL answers with a status below 500."""
    return ask(url)[0]


def ask(url: str, timeout: float = 2) -> tuple[bool, str]:
    """Whether the URL answers with a status below 500, and what it got, in words
    ("HTTP 503 Service Unavailable", "no answer (connection refused)")."""
    import urllib.error
    import urllib.request  # only a readiness probe needs it

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status) < 500, f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return err.code < 500, f"HTTP {err.code} {err.reason}".rstrip()
    except urllib.error.URLError as err:
        reason = err.reason
        text = getattr(reason, "strerror", None) or str(reason)
        return False, f"no answer ({text.lower()})"
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"
    except (OSError, ValueError) as err:
        return False, f"no answer ({getattr(err, 'strerror', None) or err})"
