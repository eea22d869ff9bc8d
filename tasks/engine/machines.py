"""Containers that stand for machines: fixed addresses on a bridge network with a fixed subnet.

What ``script/cluster`` makes on this engine (``tasks.cluster.nodes`` decides what): a
network whose subnet it chooses, containers at chosen addresses on it (engines, a
registry), their volumes, and their removal by label. Plain values in and out; the SDK's
exceptions leave as ``EngineError``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .boundary import translated
from .client import Engine


@dataclass(frozen=True)
class Machine:
    """A long-running container at a fixed address, as plain values."""

    name: str
    image: str
    network: str
    address: str  # "": the engine picks one
    labels: Mapping[str, str]
    hostname: str = ""
    entrypoint: Sequence[str] | None = None
    command: Sequence[str] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    published: Sequence[int] = ()  # container ports published on 127.0.0.1, at free ports
    mounts: Mapping[str, str] = field(default_factory=dict)  # volume or host path -> inside
    read_only: Mapping[str, str] = field(default_factory=dict)  # the same, mounted read-only
    restart: bool = False  # restarted with the engine unless stopped
    cap_add: Sequence[str] = ()
    cap_drop: Sequence[str] = ()
    unconfined: bool = False  # no seccomp or AppArmor profile
    host_cgroupns: bool = False  # the host's cgroup namespace
    tmpfs: Sequence[str] = ()  # folders mounted as tmpfs


@translated
def bridge_subnet(engine: Engine, name: str) -> str | None:
    """The subnet of network ``name`` (its first IPAM pool), or None if there is no such."""
    import docker.errors

    try:
        network = engine.client.networks.get(name)
    except docker.errors.NotFound:
        return None
    return str(network.attrs["IPAM"]["Config"][0]["Subnet"])


@translated
def subnets(engine: Engine) -> list[str]:
    """The subnets of every network of the engine (what a new one must not overlap)."""
    found = []
    for network in engine.client.api.networks():
        for config in (network.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet"):
                found.append(str(config["Subnet"]))
    return found


@translated
def create_bridge(engine: Engine, name: str, subnet: str, iprange: str, gateway: str,
                  labels: Mapping[str, str]) -> None:
    """A bridge network with a fixed subnet; the engine hands out addresses in ``iprange``
    only, so that fixed ones outside it never collide."""
    import docker.types

    pool = docker.types.IPAMPool(subnet=subnet, iprange=iprange, gateway=gateway)
    engine.client.networks.create(name, driver="bridge", labels=dict(labels),
                                  ipam=docker.types.IPAMConfig(pool_configs=[pool]))


@translated
def create_network(engine: Engine, name: str, labels: Mapping[str, str]) -> None:
    """A bridge network whose subnet the engine picks, unless one of that name exists."""
    if not [n for n in engine.client.api.networks(names=[name]) if n.get("Name") == name]:
        engine.client.networks.create(name, driver="bridge", labels=dict(labels))


@translated
def label(engine: Engine, name: str, key: str) -> str | None:
    """The value of label ``key`` on container ``name`` (None: no such container or label)."""
    import docker.errors

    try:
        attrs = engine.client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    found = ((attrs.get("Config") or {}).get("Labels") or {}).get(key)
    return None if found is None else str(found)


@translated
def start(engine: Engine, name: str) -> bool:
    """Start container ``name`` if it is not running; False if there is no such container."""
    import docker.errors

    try:
        container = engine.client.containers.get(name)
    except docker.errors.NotFound:
        return False
    if container.status != "running":
        container.start()
    return True


@translated
def create(engine: Engine, machine: Machine) -> None:
    """Create and start the machine's container at its address."""
    api = engine.client.api
    host: dict[str, Any] = {}
    if machine.published:
        host["port_bindings"] = {port: ("127.0.0.1", None) for port in machine.published}
    if machine.mounts or machine.read_only:
        host["binds"] = {source: {"bind": inside, "mode": mode}
                         for mode, mounts in (("rw", machine.mounts), ("ro", machine.read_only))
                         for source, inside in mounts.items()}
    if machine.restart:
        host["restart_policy"] = {"Name": "unless-stopped"}
    if machine.cap_add:
        host["cap_add"] = list(machine.cap_add)
    if machine.cap_drop:
        host["cap_drop"] = list(machine.cap_drop)
    if machine.unconfined:
        host["security_opt"] = ["seccomp=unconfined", "apparmor=unconfined"]
    if machine.host_cgroupns:
        host["cgroupns"] = "host"
    if machine.tmpfs:
        host["tmpfs"] = {folder: "" for folder in machine.tmpfs}
    networking = api.create_networking_config(
        {machine.network: api.create_endpoint_config(ipv4_address=machine.address or None)})
    made = api.create_container(
        name=machine.name, image=machine.image, hostname=machine.hostname or None,
        entrypoint=list(machine.entrypoint) if machine.entrypoint is not None else None,
        command=list(machine.command) if machine.command is not None else None,
        environment=dict(machine.environment) or None,
        ports=list(machine.published) or None, labels=dict(machine.labels),
        host_config=api.create_host_config(network_mode=machine.network, **host),
        networking_config=networking)["Id"]
    api.start(made)


@translated
def published_ports(engine: Engine, name: str) -> dict[str, str] | None:
    """Container port ("5000/tcp") -> the host port it is published at, of container
    ``name``; None if there is no such container."""
    import docker.errors

    try:
        attrs = engine.client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    return {inside: str(bindings[0]["HostPort"]) for inside, bindings in ports.items()
            if bindings}


@translated
def labelled(engine: Engine, label: str) -> list[str]:
    """The names of the containers, running or not, that carry ``label`` (a key)."""
    return [str(c["Names"][0]).lstrip("/")
            for c in engine.client.api.containers(all=True, filters={"label": label})]


@translated
def volumes(engine: Engine, label: str, prefix: str) -> list[str]:
    """The names of the volumes that carry ``label`` (a key), then of those named
    ``prefix...`` that do not."""
    client = engine.client
    found = [str(v.name) for v in client.volumes.list(filters={"label": label})]
    return found + [str(v.name) for v in client.volumes.list()
                    if v.name.startswith(prefix) and v.name not in found]


@translated
def remove_container(engine: Engine, name: str) -> None:
    """Remove a container, running or not, with its anonymous volumes; gone already is fine."""
    import docker.errors

    try:
        engine.client.api.remove_container(name, force=True, v=True)
    except docker.errors.NotFound:
        pass


@translated
def remove_volume(engine: Engine, name: str) -> None:
    """Remove a volume; gone already is fine."""
    import docker.errors

    try:
        engine.client.api.remove_volume(name, force=True)
    except docker.errors.NotFound:
        pass


@translated
def remove_network(engine: Engine, name: str) -> bool:
    """Remove the network called exactly ``name``; False if there is none."""
    found = [n for n in engine.client.api.networks(names=[name]) if n.get("Name") == name]
    for network in found:
        engine.client.api.remove_network(network["Id"])
    return bool(found)
