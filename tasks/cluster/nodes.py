"""A Docker Swarm of N engines on this machine: nodes are containers running dockerd.

Everything it makes is named ``ac295-swarm-*`` and labelled ``org.ac295.cluster=swarm``:

    network  ac295-swarm-net              a bridge with a fixed subnet; the registry at .2,
                                          node i at .(10+i), other containers in the upper half
    volume   ac295-swarm-node-<i>         /var/lib/docker of node i (overlay2 on ext4)
    cont.    ac295-swarm-node-<i>         dockerd 20.10 on tcp://<ip>:2376, TLS with client
                                          certificates (--tlsverify), on that network only
    volume   ac295-swarm-registry         the registry's storage
    cont.    ac295-swarm-registry         what the nodes pull from (ac295-swarm-registry:5000):
                                          TLS with client certificates, read-only
    network  ac295-swarm-push             a bridge of its own for:
    cont.    ac295-swarm-push             where this machine pushes (127.0.0.1:<a free port>,
                                          loopback only), on the same storage
    files    <state>/cluster/tls          the CA, the nodes' and registry's certificates, the
                                          project's client certificate (``certs``)

Node 1 is the manager (``swarm init``); the others join as workers. ``up`` converges (a second
``up`` changes nothing; ``up 2`` after ``up 3`` removes node 3; a node whose certificates are
not the current CA's is made again, on its volume) and ``down`` removes it all, certificates
included. Each node opens 2376 (its engine, TLS) and what Swarm needs (2377 on the manager,
7946, 4789), nothing else.

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

from ..engine import images, machines
from ..engine.client import Engine
from ..engine.machines import Machine
from ..engine.swarm import Remote, Tls
from ..errors import ClusterError
from ..progress import Progress
from . import certs

PREFIX = "ac295-swarm-"
LABEL_KEY = "org.ac295.cluster"
LABEL = {LABEL_KEY: "swarm"}
#: On the nodes and the registry: "<the certificates' folder> <a digest of the CA's and their
#: own certificate>", so that one started with other files is started again.
LABEL_TLS = "org.ac295.cluster.tls"
NETWORK = f"{PREFIX}net"
PUSH_NETWORK = f"{PREFIX}push"
NODE_IMAGE = f"{PREFIX}node:1"
REGISTRY_CONTAINER = f"{PREFIX}registry"
PUSH_CONTAINER = f"{PREFIX}push"
REGISTRY_VOLUME = f"{PREFIX}registry"
TLS_INSIDE = "/etc/ac295/tls"
ENGINE_PORT = 2376
SWARM_PORT = 2377
#: Candidate subnets: not 10/8 (Swarm takes overlay subnets from it) nor 172.17/16 (docker0).
SUBNETS = ("172.29.53.0/24", "172.30.53.0/24", "172.31.53.0/24", "192.168.253.0/24")
NODE_FOLDER = Path(__file__).parent / "node"


@dataclass
class Cluster:
    """A running cluster: its nodes' addresses and its registry's two names."""

    nodes: dict[str, str] = field(default_factory=dict)  # hostname -> address
    manager: str = ""  # DOCKER_HOST of the manager, e.g. tcp://172.29.53.11:2376
    registry_push: str = ""  # where this machine's engine pushes (127.0.0.1:<port>)
    registry_pull: str = ""  # what the nodes pull from (ac295-swarm-registry:5000)
    tls: Tls | None = None  # the client certificate the engines ask for


def node_name(i: int) -> str:
    return f"{PREFIX}node-{i}"


def client_tls(tls: Path) -> Tls:
    """The project's client certificate in the folder ``tls``, as the engine layer takes it."""
    found = certs.project(tls)
    return Tls(ca=found.ca, cert=found.cert, key=found.key)


def _engine_at(address: str, tls: Path, timeout: int = 60) -> Remote:
    return Remote(f"tcp://{address}:{ENGINE_PORT}", timeout=timeout, tls=client_tls(tls))


def _subnet(engine: Engine) -> ipaddress.IPv4Network:
    found = machines.bridge_subnet(engine, NETWORK)
    if found is not None:
        return ipaddress.IPv4Network(found)
    used = [ipaddress.ip_network(s, strict=False) for s in machines.subnets(engine)]
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for line in routes.splitlines():
        if line.split()[0] != "default":
            used.append(ipaddress.ip_network(line.split()[0], strict=False))
    for candidate in map(ipaddress.IPv4Network, SUBNETS):
        if not any(candidate.overlaps(u) for u in used):
            upper = list(candidate.subnets(prefixlen_diff=1))[1]
            machines.create_bridge(engine, NETWORK, str(candidate), str(upper),
                                   str(candidate.network_address + 1), LABEL)
            return candidate
    raise ClusterError(f"no free subnet for the cluster among {', '.join(SUBNETS)}.")


def registry_machine(subnet: ipaddress.IPv4Network, tls: Path, mark: str) -> Machine:
    """The registry the nodes pull from, on the cluster's network: TLS with client
    certificates, read-only, its storage on a volume."""
    return Machine(name=REGISTRY_CONTAINER, image=NODE_IMAGE, network=NETWORK,
                   address=str(subnet.network_address + 2), labels={**LABEL, LABEL_TLS: mark},
                   hostname=REGISTRY_CONTAINER, entrypoint=["/usr/bin/docker-registry"],
                   command=["serve", "/etc/ac295/registry.yml"], restart=True,
                   read_only={REGISTRY_VOLUME: "/var/lib/docker-registry",
                              str(tls / "registry"): TLS_INSIDE})


def push_machine() -> Machine:
    """Where this machine's engine pushes: on a network of its own, published on this
    machine's loopback only, at a free port; the same storage as the nodes' registry."""
    return Machine(name=PUSH_CONTAINER, image=NODE_IMAGE, network=PUSH_NETWORK, address="",
                   labels=LABEL, hostname=PUSH_CONTAINER,
                   entrypoint=["/usr/bin/docker-registry"],
                   command=["serve", "/etc/ac295/registry-push.yml"], published=[5000],
                   mounts={REGISTRY_VOLUME: "/var/lib/docker-registry"}, restart=True)


def node_machine(subnet: ipaddress.IPv4Network, i: int, tls: Path, mark: str) -> Machine:
    """Node ``i``: dockerd with what this machine allows instead of ``--privileged`` (see
    the module), its /var/lib/docker on a volume, its certificates mounted read-only."""
    return Machine(name=node_name(i), image=NODE_IMAGE, network=NETWORK,
                   address=str(subnet.network_address + 10 + i),
                   labels={**LABEL, LABEL_TLS: mark}, hostname=node_name(i),
                   cap_add=["ALL"], cap_drop=["SYS_RESOURCE"], unconfined=True,
                   host_cgroupns=True, tmpfs=["/run", "/tmp"],
                   mounts={"/sys/fs/cgroup": "/sys/fs/cgroup",
                           node_name(i): "/var/lib/docker"},
                   read_only={str(tls / f"node-{i}"): TLS_INSIDE})


def _converge(engine: Engine, machine: Machine, mark: str) -> None:
    """Start the machine, or make it again when its certificates are not the ones ``mark``
    names (or it has none: a cluster made before they were); its volumes stay."""
    if machine.labels.get(LABEL_TLS) is not None and \
            machine.name in machines.labelled(engine, LABEL_KEY) and \
            machines.label(engine, machine.name, LABEL_TLS) != mark:
        machines.remove_container(engine, machine.name)
    if not machines.start(engine, machine.name):
        machines.create(engine, machine)


def _wait_engine(address: str, tls: Path, timeout: float = 180) -> Remote:
    deadline = time.monotonic() + timeout
    while True:
        probe = _engine_at(address, tls, timeout=5)
        why = probe.answers()
        probe.close()
        if why is None:
            return _engine_at(address, tls)
        if "CERTIFICATE_VERIFY_FAILED" in why:
            raise ClusterError(f"the node at {address} shows a certificate that is not from "
                               f"the CA in {tls}. Run `script/cluster down`, then `up` again.")
        if time.monotonic() > deadline:
            raise ClusterError(f"the node at {address} did not answer within "
                               f"{timeout:.0f} s ({why}).")
        time.sleep(0.3)


def _swarm(engines: dict[int, Remote], addresses: dict[int, str], progress: Progress) -> None:
    manager = engines[1]
    state, control = manager.swarm_state()
    if state != "active" or not control:
        if state != "inactive":
            manager.swarm_leave()
        progress(f"swarm init on {node_name(1)}")
        manager.swarm_init(addresses[1], f"{addresses[1]}:{SWARM_PORT}")
    token = manager.worker_token()
    members = {n.hostname for n in manager.nodes() if n.state == "ready"}
    for i, engine in engines.items():
        if i == 1:
            continue
        state, _ = engine.swarm_state()
        if state == "active" and node_name(i) in members:
            continue  # workers do not see the cluster's id: the manager's list decides
        if state != "inactive":
            engine.swarm_leave()
        progress(f"swarm join {node_name(i)}")
        engine.swarm_join(f"{addresses[1]}:{SWARM_PORT}", token, addresses[i],
                          f"{addresses[i]}:{SWARM_PORT}")


def _wait_ready(manager: Remote, wanted: set[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = manager.nodes()
        ready = {n.hostname for n in found if n.state == "ready"}
        for node in found:  # a node that is down and not wanted, or a stale twin of one
            if node.state != "ready" and (node.hostname not in wanted or node.hostname in ready):
                manager.remove_node(node.id)
        if wanted <= ready:
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"nodes not ready after {timeout:.0f} s: "
                               f"{', '.join(sorted(wanted - ready))}.")
        time.sleep(0.5)


def _indices(engine: Engine) -> list[int]:
    return sorted(int(name.rsplit("-", 1)[1]) for name in machines.labelled(engine, LABEL_KEY)
                  if name.startswith(f"{PREFIX}node-"))


def up(engine: Engine, count: int, base_image: str, state: Path,
       progress: Progress) -> Cluster:
    """Make, or converge to, a cluster of ``count`` nodes, with its certificates in
    ``state``/cluster/tls; it is then described.

    Raises:
        ClusterError: the nodes did not come up (or there is no room for their network, or
            openssl failed).
    """
    if count < 1:
        raise ClusterError("a cluster needs at least one node.")
    progress(f"the node image {NODE_IMAGE} (FROM {base_image})")
    images.build(engine, NODE_FOLDER, NODE_FOLDER / "Dockerfile", NODE_IMAGE,
                 {"BASE_IMAGE": base_image}, LABEL, "cluster", lambda line: None)
    subnet = _subnet(engine)
    addresses = {i: str(subnet.network_address + 10 + i) for i in range(1, count + 1)}
    tls = certs.folder(state).resolve()
    if certs.ensure(tls, {f"node-{i}": a for i, a in addresses.items()},
                    (REGISTRY_CONTAINER, str(subnet.network_address + 2))):
        progress(f"certificates: a new CA, the nodes', the registry's and the project's in "
                 f"{tls}")
    mark = f"{tls} {certs.fingerprint(tls, 'registry')}"
    _converge(engine, registry_machine(subnet, tls, mark), mark)
    machines.create_network(engine, PUSH_NETWORK, LABEL)
    _converge(engine, push_machine(), "")
    for i in addresses:
        mark = f"{tls} {certs.fingerprint(tls, f'node-{i}')}"
        _converge(engine, node_machine(subnet, i, tls, mark), mark)
    engines = {i: _wait_engine(address, tls) for i, address in addresses.items()}
    try:
        _swarm(engines, addresses, progress)
        for i in [i for i in _indices(engine) if i > count]:
            _remove_node(engine, i, engines[1], progress)
        _wait_ready(engines[1], {node_name(i) for i in addresses})
    finally:
        for each in engines.values():
            each.close()
    found = current(engine)
    if found is None:
        raise ClusterError("the cluster was made but cannot be found again.")
    return found


def _remove_node(engine: Engine, i: int, manager: Remote, progress: Progress) -> None:
    for node in manager.nodes():
        if node.hostname == node_name(i):
            manager.remove_node(node.id)
    machines.remove_container(engine, node_name(i))
    machines.remove_volume(engine, node_name(i))
    progress(f"removed {node_name(i)}")


def current(engine: Engine) -> Cluster | None:
    """The cluster ``up`` made on this engine, or None when there is none (no changes)."""
    subnet = machines.bridge_subnet(engine, NETWORK)
    ports = machines.published_ports(engine, PUSH_CONTAINER)
    mark = machines.label(engine, node_name(1), LABEL_TLS)
    if subnet is None or ports is None or not mark:
        return None
    network = ipaddress.IPv4Network(subnet)
    nodes = {node_name(i): str(network.network_address + 10 + i) for i in _indices(engine)}
    if not nodes:
        return None
    port = ports.get("5000/tcp")
    return Cluster(nodes=nodes, manager=f"tcp://{nodes[node_name(1)]}:{ENGINE_PORT}",
                   registry_push=f"127.0.0.1:{port}" if port else "",
                   registry_pull=f"{REGISTRY_CONTAINER}:5000",
                   tls=client_tls(Path(mark.rsplit(" ", 1)[0])))


def elsewhere(manager: str, registry: str, cert_path: str) -> Cluster:
    """A real Swarm: its manager's DOCKER_HOST, a registry this machine and the nodes reach,
    and a folder with ``ca.pem``, ``cert.pem`` and ``key.pem`` (Docker's $DOCKER_CERT_PATH)
    when its engines ask for a client certificate ("": they do not, or ``ssh://``)."""
    tls = None
    if cert_path and manager.startswith("tcp://"):
        folder = Path(cert_path)
        tls = Tls(ca=folder / "ca.pem", cert=folder / "cert.pem", key=folder / "key.pem")
    return Cluster(nodes={}, manager=manager, registry_push=registry, registry_pull=registry,
                   tls=tls)


def down(engine: Engine, progress: Progress) -> None:
    """Remove the nodes, the registries, their volumes, the networks and the certificates
    (in parallel: a node's /var/lib/docker takes seconds to delete)."""
    found = current(engine)
    containers = machines.labelled(engine, LABEL_KEY)
    marks = [machines.label(engine, name, LABEL_TLS) for name in sorted(containers)]
    mark = next((m for m in marks if m), "")
    volumes = machines.volumes(engine, LABEL_KEY, PREFIX)

    def remove_container(name: str) -> str:
        machines.remove_container(engine, name)
        return name

    def remove_volume(name: str) -> str:
        machines.remove_volume(engine, name)
        return name

    with ThreadPoolExecutor(max_workers=8) as pool:
        for name in pool.map(remove_container, containers):
            progress(f"removed {name}")
        for name in pool.map(remove_volume, volumes):
            progress(f"removed volume {name}")
    for network in (NETWORK, PUSH_NETWORK):
        if machines.remove_network(engine, network):
            progress(f"removed {network}")
    tls = Path(mark.rsplit(" ", 1)[0]) if mark else None
    if tls is not None and tls.parts[-2:] == ("cluster", "tls") and certs.remove(tls):
        progress(f"removed the certificates in {tls}")
    if found and found.registry_push:
        for tag in images.tags(engine, found.registry_push + "/"):
            images.untag(engine, tag)


def node_list(cluster: Cluster) -> str:
    """``docker node ls``, as the manager answers it."""
    with Remote(cluster.manager, timeout=60, tls=cluster.tls) as manager:
        rows = [f"{'HOSTNAME':<22} {'STATUS':<8} {'AVAILABILITY':<13} {'ROLE'}"]
        for node in sorted(manager.nodes(), key=lambda n: n.hostname):
            rows.append(f"{node.hostname:<22} {node.state:<8} {node.availability:<13} "
                        f"{node.role}")
    return "\n".join(rows)
