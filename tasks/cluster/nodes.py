"""A Docker Swarm of N engines on this machine: nodes are containers running dockerd.

Everything it makes is named ``ac295-swarm-*`` and labelled ``org.ac295.cluster=swarm``:

    network  ac295-swarm-net              a bridge with a fixed subnet; the registry at .2,
                                          node i at .(10+i), other containers in the upper half
    volume   ac295-swarm-node-<i>         /var/lib/docker of node i (overlay2 on ext4)
    cont.    ac295-swarm-node-<i>         dockerd 20.10 on tcp://<ip>:2375, on that network only
    volume   ac295-swarm-registry         the registry's storage
    cont.    ac295-swarm-registry         the nodes pull from ac295-swarm-registry:5000; the host
                                          pushes to 127.0.0.1:<a free port> (loopback only)

Node 1 is the manager (``swarm init``); the others join as workers. ``up`` converges (a second
``up`` changes nothing; ``up 2`` after ``up 3`` removes node 3) and ``down`` removes it all.

What this machine needs of the nodes (found by trying): ``--privileged`` is refused, so the
nodes get every capability but SYS_RESOURCE, no seccomp or AppArmor profile, the host's cgroup
namespace and /sys/fs/cgroup read-write; overlay2 needs a volume (overlay on overlay fails);
the kernel has no IPVS, so services use DNS round robin and host-mode ports (no routing mesh).
"""
from __future__ import annotations

import ipaddress
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import images
from ..engine.client import Engine
from ..errors import Ac295Error, translated
from ..progress import Progress

PREFIX = "ac295-swarm-"
LABEL = {"org.ac295.cluster": "swarm"}
NETWORK = f"{PREFIX}net"
NODE_IMAGE = f"{PREFIX}node:1"
REGISTRY_CONTAINER = f"{PREFIX}registry"
REGISTRY_VOLUME = f"{PREFIX}registry"
ENGINE_PORT = 2375
SWARM_PORT = 2377
#: Candidate subnets: not 10/8 (Swarm takes overlay subnets from it) nor 172.17/16 (docker0).
SUBNETS = ("172.29.53.0/24", "172.30.53.0/24", "172.31.53.0/24", "192.168.253.0/24")
NODE_FOLDER = Path(__file__).parent / "node"

class ClusterError(Ac295Error):
    """The cluster could not be made, found or used."""


@dataclass
class Cluster:
    """A running cluster: its nodes' addresses and its registry's two names."""

    nodes: dict[str, str] = field(default_factory=dict)  # hostname -> address
    manager: str = ""  # DOCKER_HOST of the manager, e.g. tcp://172.29.53.11:2375
    registry_push: str = ""  # where this machine's engine pushes (127.0.0.1:<port>)
    registry_pull: str = ""  # what the nodes pull from (ac295-swarm-registry:5000)


def node_name(i: int) -> str:
    return f"{PREFIX}node-{i}"


def _client(engine: Engine) -> Any:
    return engine.client


def _engine_at(address: str, timeout: int = 60) -> Any:
    import docker

    return docker.DockerClient(base_url=f"tcp://{address}:{ENGINE_PORT}", timeout=timeout)


def _subnet(client: Any) -> ipaddress.IPv4Network:
    import docker

    try:
        network = client.networks.get(NETWORK)
        return ipaddress.IPv4Network(network.attrs["IPAM"]["Config"][0]["Subnet"])
    except docker.errors.NotFound:
        pass
    used = []
    for other in client.networks.list():
        for config in (other.attrs.get("IPAM") or {}).get("Config") or []:
            if config.get("Subnet"):
                used.append(ipaddress.ip_network(config["Subnet"], strict=False))
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for line in routes.splitlines():
        if line.split()[0] != "default":
            used.append(ipaddress.ip_network(line.split()[0], strict=False))
    for candidate in map(ipaddress.IPv4Network, SUBNETS):
        if not any(candidate.overlaps(u) for u in used):
            upper = list(candidate.subnets(prefixlen_diff=1))[1]
            pool = docker.types.IPAMPool(subnet=str(candidate), iprange=str(upper),
                                         gateway=str(candidate.network_address + 1))
            client.networks.create(NETWORK, driver="bridge", labels=LABEL,
                                   ipam=docker.types.IPAMConfig(pool_configs=[pool]))
            return candidate
    raise ClusterError(f"no free subnet for the cluster among {', '.join(SUBNETS)}.")


def _running(client: Any, name: str) -> Any | None:
    import docker

    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return None
    if container.status != "running":
        container.start()
    return container


def _create(client: Any, name: str, address: str, **kwargs: Any) -> None:
    api = client.api
    host = api.create_host_config(network_mode=NETWORK, **kwargs.pop("host"))
    networking = api.create_networking_config(
        {NETWORK: api.create_endpoint_config(ipv4_address=address)})
    made = api.create_container(name=name, host_config=host, networking_config=networking,
                                labels=LABEL, **kwargs)["Id"]
    api.start(made)


def _registry(client: Any, subnet: ipaddress.IPv4Network) -> None:
    if _running(client, REGISTRY_CONTAINER):
        return
    _create(client, REGISTRY_CONTAINER, str(subnet.network_address + 2), image=NODE_IMAGE,
            hostname=REGISTRY_CONTAINER, entrypoint=["/usr/bin/docker-registry"],
            command=["serve", "/etc/ac295/registry.yml"], ports=[5000],
            host={"port_bindings": {5000: ("127.0.0.1", None)},  # loopback only, a free port
                  "binds": {REGISTRY_VOLUME: {"bind": "/var/lib/docker-registry",
                                              "mode": "rw"}},
                  "restart_policy": {"Name": "unless-stopped"}})


def _node(client: Any, subnet: ipaddress.IPv4Network, i: int) -> None:
    if _running(client, node_name(i)):
        return
    _create(client, node_name(i), str(subnet.network_address + 10 + i), image=NODE_IMAGE,
            hostname=node_name(i),
            environment={"AC295_INSECURE": f"{REGISTRY_CONTAINER}:5000 {subnet}"},
            host={"cap_add": ["ALL"], "cap_drop": ["SYS_RESOURCE"],
                  "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
                  "cgroupns": "host", "tmpfs": {"/run": "", "/tmp": ""},
                  "binds": {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                            f"{node_name(i)}": {"bind": "/var/lib/docker", "mode": "rw"}}})


def _wait_engine(address: str, timeout: float = 90) -> Any:
    import docker

    deadline = time.monotonic() + timeout
    while True:
        try:
            engine = _engine_at(address, timeout=5)
            engine.ping()
            return _engine_at(address)
        except (docker.errors.DockerException, OSError) as err:
            if time.monotonic() > deadline:
                raise ClusterError(f"the node at {address} did not answer within "
                                   f"{timeout:.0f} s ({err}).") from None
            time.sleep(0.3)


def _swarm(engines: dict[int, Any], addresses: dict[int, str], progress: Progress) -> None:
    manager = engines[1]
    info = manager.info()["Swarm"]
    if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
        if info.get("LocalNodeState") != "inactive":
            manager.swarm.leave(force=True)
        progress(f"swarm init on {node_name(1)}")
        manager.swarm.init(advertise_addr=addresses[1],
                           listen_addr=f"{addresses[1]}:{SWARM_PORT}")
    manager.swarm.reload()
    token = manager.swarm.attrs["JoinTokens"]["Worker"]
    members = {n.attrs["Description"]["Hostname"] for n in manager.nodes.list()
               if n.attrs["Status"]["State"] == "ready"}
    for i, engine in engines.items():
        if i == 1:
            continue
        state = engine.info()["Swarm"].get("LocalNodeState")
        if state == "active" and node_name(i) in members:
            continue  # workers do not see the cluster's id: the manager's list decides
        if state != "inactive":
            engine.swarm.leave(force=True)
        progress(f"swarm join {node_name(i)}")
        engine.swarm.join(remote_addrs=[f"{addresses[1]}:{SWARM_PORT}"], join_token=token,
                          advertise_addr=addresses[i],
                          listen_addr=f"{addresses[i]}:{SWARM_PORT}")


def _wait_ready(manager: Any, wanted: set[str], timeout: float = 120) -> None:
    import docker

    deadline = time.monotonic() + timeout
    while True:
        found = manager.nodes.list()
        ready = {n.attrs["Description"]["Hostname"] for n in found
                 if n.attrs["Status"]["State"] == "ready"}
        for node in found:  # a node that is down and not wanted, or a stale twin of one
            name = node.attrs["Description"]["Hostname"]
            if node.attrs["Status"]["State"] != "ready" and (name not in wanted or name in ready):
                try:
                    node.remove(force=True)
                except docker.errors.APIError:
                    pass
        if wanted <= ready:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"nodes not ready after {timeout:.0f} s: "
                               f"{', '.join(sorted(wanted - ready))}.")
        time.sleep(0.5)


def _indices(client: Any) -> list[int]:
    found = []
    for container in client.containers.list(all=True, filters={"label": "org.ac295.cluster"}):
        if container.name.startswith(f"{PREFIX}node-"):
            found.append(int(container.name.rsplit("-", 1)[1]))
    return sorted(found)


@translated
def up(engine: Engine, count: int, base_image: str, progress: Progress) -> Cluster:
    """Make, or converge to, a cluster of ``count`` nodes; it is then described.

    Raises:
        ClusterError: the nodes did not come up (or there is no room for their network).
    """
    if count < 1:
        raise ClusterError("a cluster needs at least one node.")
    client = _client(engine)
    progress(f"the node image {NODE_IMAGE} (FROM {base_image})")
    images.build(engine, NODE_FOLDER, NODE_FOLDER / "Dockerfile", NODE_IMAGE,
                 {"BASE_IMAGE": base_image}, LABEL, "cluster", lambda line: None)
    subnet = _subnet(client)
    _registry(client, subnet)
    addresses = {i: str(subnet.network_address + 10 + i) for i in range(1, count + 1)}
    for i in addresses:
        _node(client, subnet, i)
    engines = {i: _wait_engine(address) for i, address in addresses.items()}
    _swarm(engines, addresses, progress)
    for i in [i for i in _indices(client) if i > count]:
        _remove_node(client, i, engines[1], progress)
    _wait_ready(engines[1], {node_name(i) for i in addresses})
    for each in engines.values():
        each.close()
    found = current(engine)
    if found is None:
        raise ClusterError("the cluster was made but cannot be found again.")
    return found


def _remove_node(client: Any, i: int, manager: Any, progress: Progress) -> None:
    import docker

    for node in manager.nodes.list(filters={"name": node_name(i)}):
        try:
            node.remove(force=True)
        except docker.errors.APIError:
            pass
    for remove in (lambda: client.containers.get(node_name(i)).remove(force=True, v=True),
                   lambda: client.volumes.get(node_name(i)).remove(force=True)):
        try:
            remove()
        except docker.errors.NotFound:
            pass
    progress(f"removed {node_name(i)}")


@translated
def current(engine: Engine) -> Cluster | None:
    """The cluster ``up`` made on this engine, or None when there is none (no changes)."""
    import docker

    client = _client(engine)
    try:
        network = client.networks.get(NETWORK)
        registry = client.containers.get(REGISTRY_CONTAINER)
    except docker.errors.NotFound:
        return None
    subnet = ipaddress.IPv4Network(network.attrs["IPAM"]["Config"][0]["Subnet"])
    nodes = {node_name(i): str(subnet.network_address + 10 + i) for i in _indices(client)}
    if not nodes:
        return None
    ports = (registry.attrs["NetworkSettings"].get("Ports") or {}).get("5000/tcp") or []
    return Cluster(nodes=nodes, manager=f"tcp://{nodes[node_name(1)]}:{ENGINE_PORT}",
                   registry_push=f"127.0.0.1:{ports[0]['HostPort']}" if ports else "",
                   registry_pull=f"{REGISTRY_CONTAINER}:5000")


@translated
def down(engine: Engine, progress: Progress) -> None:
    """Remove the nodes, the registry, their volumes and the network (in parallel: a node's
    /var/lib/docker takes seconds to delete)."""
    import docker

    client = _client(engine)
    found = current(engine)
    containers = client.containers.list(all=True, filters={"label": "org.ac295.cluster"})
    volumes = client.volumes.list(filters={"label": "org.ac295.cluster"})
    volumes += [v for v in client.volumes.list() if v.name.startswith(PREFIX)
                and v.name not in {x.name for x in volumes}]

    def remove(thing: Any) -> str:
        try:
            thing.remove(force=True, **({"v": True} if hasattr(thing, "status") else {}))
        except docker.errors.NotFound:
            pass
        return str(thing.name)

    with ThreadPoolExecutor(max_workers=8) as pool:
        for name in pool.map(remove, containers):
            progress(f"removed {name}")
        for name in pool.map(remove, volumes):
            progress(f"removed volume {name}")
    for network in client.networks.list(names=[NETWORK]):
        network.remove()
        progress(f"removed {NETWORK}")
    if found and found.registry_push:
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(found.registry_push + "/"):
                    client.images.remove(tag)


def node_list(cluster: Cluster) -> str:
    """``docker node ls``, as the manager answers it."""
    manager = _engine_at(cluster.manager.split("//")[1].split(":")[0])
    rows = [f"{'HOSTNAME':<22} {'STATUS':<8} {'AVAILABILITY':<13} {'ROLE'}"]
    for node in sorted(manager.nodes.list(), key=lambda n: n.attrs["Description"]["Hostname"]):
        rows.append(f"{node.attrs['Description']['Hostname']:<22} "
                    f"{node.attrs['Status']['State']:<8} "
                    f"{node.attrs['Spec']['Availability']:<13} {node.attrs['Spec']['Role']}")
    manager.close()
    return "\n".join(rows)
