"""Services and networks: containers that keep running while later steps talk to them.

A service is started, probed until ready, and removed when doit's run ends (a doit
``teardown``, which doit runs in its ``finally``: after success, after a failed task and after
Ctrl-C). Its network goes the same way, after the containers. Leftovers of a run that was
killed outright (same name, same label) are swept before a new one starts.
"""
from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import docker.errors

from .engine import CONTAINER_LIMITS, LABEL_PROJECT, LABEL_TASK, Engine
from .errors import CheckFailed, EngineError
from .model import NetworkStep, RunStep

Progress = Callable[[str], None]
LABEL_EPHEMERAL = "org.ac295.ephemeral"


def _ours(labels: dict[str, str] | None, task: str | None, engine: Engine) -> bool:
    """True if these labels say this project copy made the thing (for ``task``, if given)."""
    labels = labels or {}
    return labels.get(LABEL_EPHEMERAL) == "1" and labels.get(LABEL_PROJECT) == engine.project \
        and (task is None or labels.get(LABEL_TASK) == task)


def _remove_container(engine: Engine, ident: str, task: str) -> bool:
    """Remove a container this project made for ``task``; refuse to touch anyone else's."""
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


def create_network(step: NetworkStep, engine: Engine, progress: Progress) -> str:
    """Create the step's network fresh, removing a stale one (and its labelled containers)."""
    client = engine.client
    for stale in client.networks.list(names=[step.network]):
        if stale.name != step.network:
            continue
        stale.reload()
        if not _ours(stale.attrs.get("Labels"), step.task, engine):
            raise EngineError(f"{step.task}: a network named {step.network} exists and this "
                              "project did not make it. Remove it (docker network rm) or "
                              "rename the step's network.")
        for container in stale.containers:
            if _ours(container.labels, None, engine):
                container.remove(force=True)
            else:
                raise EngineError(f"{step.task}: the network {step.network} exists and "
                                  f"container {container.name} (not made by this project) is "
                                  "attached to it. Remove it or rename the network.")
        stale.remove()
        progress(f"removed stale network {step.network}")
    network = client.networks.create(step.network, driver="bridge",
                                     labels=engine.labels(step.task, **{LABEL_EPHEMERAL: "1"}))
    progress(f"network {step.network} created")
    return str(network.id)


def remove_network(step: NetworkStep, engine: Engine, progress: Progress) -> None:
    """Remove the step's network and any of our containers still attached to it."""
    for network in engine.client.networks.list(names=[step.network]):
        if network.name != step.network:
            continue
        network.reload()
        if not _ours(network.attrs.get("Labels"), step.task, engine):
            continue
        for container in network.containers:
            if _ours(container.labels, None, engine):
                container.remove(force=True)
        network.remove()
        progress(f"network {step.network} removed")


def container_name(step: RunStep) -> str:
    """A service's container name: its ``name:`` or ``<exercise>-<step>``."""
    return step.container or f"{step.exercise}-{step.name}"


def start(step: RunStep, engine: Engine, image_id: str, network: str | None,
          progress: Progress) -> str:
    """Start a service container and wait until its readiness probe passes.

    Raises:
        CheckFailed: it exited, or was not ready in time (its logs are in the message); the
            container is removed first.
    """
    client = engine.client
    name = container_name(step)
    if _remove_container(engine, name, step.task):
        progress(f"removed stale container {name} (left by an interrupted run)")
    kwargs: dict[str, Any] = {}
    if network:
        kwargs["network"] = network
        kwargs["networking_config"] = {network: client.api.create_endpoint_config(
            aliases=list(step.aliases) or None)}
    container = client.containers.create(
        image_id, command=list(step.command) if step.command is not None else None, name=name,
        environment=dict(step.env), detach=True,
        labels=engine.labels(step.task, **{LABEL_EPHEMERAL: "1"}),
        ports={port if "/" in port else f"{port}/tcp": ("127.0.0.1", int(host))
               for port, host in step.ports.items()}, **kwargs, **CONTAINER_LIMITS)
    try:
        container.start()
        published = ", ".join(f"127.0.0.1:{h}->{c}" for c, h in step.ports.items())
        progress(f"service {name} started" + (f" ({published})" if published else ""))
        if step.ready is not None:
            _wait_ready(step, container, progress)
    except BaseException:
        container.remove(force=True)
        raise
    return str(container.id)


def stop(step: RunStep, engine: Engine, progress: Progress) -> None:
    """Remove a service's container (teardown)."""
    if _remove_container(engine, container_name(step), step.task):
        progress(f"service {container_name(step)} removed")


def _wait_ready(step: RunStep, container: Any, progress: Progress) -> None:
    assert step.ready is not None
    deadline = time.monotonic() + step.ready.timeout
    log_ok = step.ready.log is None
    http_ok = step.ready.http is None
    while time.monotonic() < deadline:
        container.reload()
        if container.status in ("exited", "dead"):
            raise CheckFailed(f"{step.task}: the service exited before it was ready "
                              f"(exit code {container.attrs['State'].get('ExitCode')}).\n"
                              f"--- logs ---\n{_logs(container)}")
        if not log_ok and step.ready.log is not None:
            log_ok = re.search(step.ready.log, _logs(container), re.MULTILINE) is not None
        if not http_ok and step.ready.http is not None:
            http_ok = _answers(step.ready.http)
        if log_ok and http_ok:
            progress(f"service {container.name} is ready")
            return
        time.sleep(0.2)
    raise CheckFailed(f"{step.task}: the service was not ready within {step.ready.timeout} s "
                      f"(log /{step.ready.log}/: {'ok' if log_ok else 'not seen'}; http "
                      f"{step.ready.http}: {'ok' if http_ok else 'no answer'}). Raise "
                      f"'ready: timeout:' or fix the service.\n--- logs ---\n{_logs(container)}")


def _logs(container: Any) -> str:
    return container.logs(stdout=True, stderr=True).decode("utf-8", "replace").rstrip()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError):
        return False
