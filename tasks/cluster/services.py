"""Services and networks on a Swarm: what demo 2 needs, as on one engine.

A network step becomes an attachable overlay network (containers on different nodes reach
each other over VXLAN). A service becomes a Swarm service with one replica, on that network
under its aliases, with DNS round robin (this machine's kernel has no IPVS, so no virtual IPs
and no routing mesh) and its ports published in host mode on the node that runs it; a
forwarder on this machine's 127.0.0.1 makes it answer where the checks ask, as a container
published on one engine would. Everything is removed when the run ends.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..engine.client import Engine
from ..engine.services import Service, wait_ready
from ..engine.swarm import TERMINAL, Remote
from ..errors import ServiceError
from . import jobs
from .nodes import Cluster
from ..progress import Progress


def create_network(cluster: Cluster, name: str, labels: dict[str, str],
                   progress: Progress) -> None:
    """An attachable overlay network, made fresh (a leftover of a killed run is removed)."""
    with jobs.manager(cluster) as remote:
        for old in remote.networks_named(name):
            remote.remove_network(old)
        remote.create_overlay(name, labels)
        progress(f"overlay network {name} created on the cluster")


def remove_network(cluster: Cluster, name: str, progress: Progress) -> None:
    """Remove the overlay network, and wait until the manager no longer lists it (it lets go
    of a network a moment after its last task)."""
    with jobs.manager(cluster) as remote:
        for network in remote.networks_named(name):
            remote.remove_network(network)
            progress(f"overlay network {name} removed")
        deadline = time.monotonic() + 15
        while remote.networks_named(name) and time.monotonic() < deadline:
            time.sleep(0.2)


def _pidfile(state: Path, name: str) -> Path:
    return state / "cluster" / f"forward-{name}.pid"


def _stop_forward(state: Path, name: str) -> None:
    pidfile = _pidfile(state, name)
    try:
        pid = int(pidfile.read_text())
        if "tasks.cluster.forward" in Path(f"/proc/{pid}/cmdline").read_text():
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    pidfile.unlink(missing_ok=True)


def start(engine: Engine, cluster: Cluster, image_id: str, service: Service, state: Path,
          labels: dict[str, str], progress: Progress) -> None:
    """Start the service on the cluster, forward its ports, wait until it is ready.

    Raises:
        ServiceError: it exited, or was not ready in time.
    """
    ref = jobs.publish(engine, cluster, image_id, progress)
    stop(cluster, service.name, state, progress, quiet=True)
    with jobs.manager(cluster) as remote:
        created = remote.create_service(
            ref, service.command, service.name, service.env, labels, service.network,
            service.aliases, {int(host): int(inside.split("/")[0])
                              for inside, host in service.ports.items()})
        node = _running_on(remote, created, service.task)
        address = cluster.nodes.get(node, node)
        progress(f"service {service.name} runs on {node}")
        for host_port in service.ports.values():
            pidfile = _pidfile(state, service.name)
            pidfile.parent.mkdir(parents=True, exist_ok=True)
            forward = subprocess.Popen(
                [sys.executable, "-m", "tasks.cluster.forward", host_port,
                 f"{address}:{host_port}"], cwd=Path(__file__).resolve().parents[2],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
            assert forward.stdout is not None
            forward.stdout.readline()  # "forwarding": it listens
            pidfile.write_text(f"{forward.pid}\n")
            progress(f"127.0.0.1:{host_port} -> {address}:{host_port}")
        if service.probe is not None:
            _wait_ready(remote, created, service, progress)


def _running_on(remote: Remote, service_id: str, task: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for found in remote.tasks(service_id):
            if found.state == "running":
                return remote.node(found.node_id).hostname
            if found.state in TERMINAL:
                raise ServiceError(f"{task}: the service ended {found.state} before it ran "
                                   f"({found.error or 'no reason given'}).")
        time.sleep(0.2)
    raise ServiceError(f"{task}: the service did not start on the cluster within "
                       f"{timeout:.0f} s.")


def _wait_ready(remote: Remote, service_id: str, service: Service, progress: Progress) -> None:
    assert service.probe is not None

    def logs() -> str:
        out, err = remote.logs(service_id)
        return (out + err).decode(errors="replace")

    wait_ready(service.task, service.name, service.probe, logs, lambda: None, progress,
               where=" on the cluster", interval=0.3)


def stop(cluster: Cluster, name: str, state: Path, progress: Progress,
         quiet: bool = False) -> None:
    """Remove the service and its forwarder (at the end of the run, or a leftover)."""
    _stop_forward(state, name)
    with jobs.manager(cluster) as remote:
        for found in remote.services_named(name):
            remote.remove_service(found)
            if not quiet:
                progress(f"service {name} removed from the cluster")
