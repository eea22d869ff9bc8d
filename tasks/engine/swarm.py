"""A Docker Swarm through the Docker API of its manager (or of one of its nodes).

``Remote`` is the engine at an address (``tcp://host:2376``, with the client certificate
``Tls`` names when the engine asks for one): joining and leaving the Swarm,
its nodes, services (long-running, or replicated jobs that run once), their tasks and logs,
and overlay networks. Plain values in and out (``Node``, ``SwarmTask``, ids, names); the
SDK's exceptions leave as ``EngineError``. What to run where, and when to give up, is
``tasks.cluster``'s business.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from pathlib import Path

from .boundary import translated
from .containers import Isolation

#: What a job's engine keeps of its output on the node: two files of at most 16 MB. A file
#: full enough to be rotated holds more than a job's caps let through (a line costs at most
#: 70 bytes of JSON beside its text, which JSON at most sextuples: 20,000 lines and 1 MB on
#: each stream fill at most 15.4 MB), so output that was dropped is never graded: reading
#: it back finds the job too large first.
LOG_OPTIONS = {"max-size": "16m", "max-file": "2"}
#: The Docker API version asked of a TLS engine (Debian's 20.10; newer engines serve it too).
API_VERSION = "1.41"
#: Task states after which a Swarm task does nothing more.
TERMINAL = frozenset({"complete", "failed", "rejected", "shutdown", "orphaned", "remove"})


@dataclass(frozen=True)
class Node:
    """A node of the Swarm, as its manager lists it."""

    id: str
    hostname: str
    state: str  # "ready", "down", "unknown", "disconnected"
    availability: str  # "active", "pause", "drain"
    role: str  # "manager", "worker"


@dataclass(frozen=True)
class SwarmTask:
    """One task of a service: where it was placed, how far it got, how it ended."""

    state: str  # "new" ... "running", then one of TERMINAL
    version: int  # the manager's index: the highest is the newest
    node_id: str
    exit_code: int | None  # the container's, once it ended
    error: str  # why it failed, as Swarm says ("" if it did not say)


@dataclass(frozen=True)
class Tls:
    """A client certificate and its key, and the CA whose certificates the engine must show."""

    ca: Path
    cert: Path
    key: Path


def _client(base_url: str, timeout: int, tls: Tls | None = None) -> Any:
    import docker
    import docker.tls

    if tls is None:
        return docker.DockerClient(base_url=base_url, timeout=timeout)
    config = docker.tls.TLSConfig(client_cert=(str(tls.cert), str(tls.key)),
                                  ca_cert=str(tls.ca), verify=True)
    # the API version is named, so that nothing is asked before requests is told to verify
    # with this CA and not with $REQUESTS_CA_BUNDLE (the system's CAs), which it prefers
    client = docker.DockerClient(base_url=base_url, timeout=timeout, tls=config,
                                 version=API_VERSION)
    client.api.trust_env = False
    return client


class Remote:
    """The Docker API of an engine elsewhere, connected on first use; ``close`` (or ``with``)
    ends the connection.

    Args:
        base_url: the engine's address, ``tcp://host:port``.
        timeout: seconds a request may take.
        tls: the client certificate to show, and the CA the engine's certificate must come
            from (None: plain TCP, or what ``ssh://`` brings).
        factory: makes the client from (base_url, timeout, tls); a fake in unit tests.
    """

    def __init__(self, base_url: str, timeout: int = 120, tls: Tls | None = None,
                 factory: Callable[[str, int, Tls | None], Any] | None = None) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.tls = tls
        self._factory = factory or _client
        self._connected: Any = None

    @property
    def _api(self) -> Any:
        if self._connected is None:
            self._connected = self._factory(self.base_url, self.timeout, self.tls)
        return self._connected

    def close(self) -> None:
        if self._connected is not None:
            self._connected.close()
            self._connected = None

    def __enter__(self) -> "Remote":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the engine itself and its membership ---------------------------------------------

    def answers(self) -> str | None:
        """None if the engine answers a ping, else why not (one line); never raises."""
        import docker.errors

        try:
            self._api.ping()
            return None
        except (docker.errors.DockerException, OSError) as err:  # OSError: requests' too
            self.close()
            return str(err)

    @translated
    def swarm_state(self) -> tuple[str, bool]:
        """(this engine's Swarm state: "inactive", "active", ..., whether it manages)."""
        info = self._api.info()["Swarm"]
        return str(info.get("LocalNodeState") or ""), bool(info.get("ControlAvailable"))

    @translated
    def swarm_init(self, advertise: str, listen: str) -> None:
        """``docker swarm init``: this engine becomes a Swarm's first manager."""
        self._api.swarm.init(advertise_addr=advertise, listen_addr=listen)

    @translated
    def swarm_join(self, manager: str, token: str, advertise: str, listen: str) -> None:
        """``docker swarm join``: this engine joins the Swarm ``manager`` (host:port) runs."""
        self._api.swarm.join(remote_addrs=[manager], join_token=token, advertise_addr=advertise,
                             listen_addr=listen)

    @translated
    def swarm_leave(self) -> None:
        """``docker swarm leave --force``."""
        self._api.swarm.leave(force=True)

    @translated
    def worker_token(self) -> str:
        """The token a worker joins this manager's Swarm with."""
        self._api.swarm.reload()
        return str(self._api.swarm.attrs["JoinTokens"]["Worker"])

    # --- nodes -----------------------------------------------------------------------------

    @translated
    def nodes(self) -> list[Node]:
        """Every node the manager knows, as it lists them."""
        return [_node(n.attrs) for n in self._api.nodes.list()]

    @translated
    def node(self, node_id: str) -> Node:
        """One node, by id."""
        return _node(self._api.nodes.get(node_id).attrs)

    @translated
    def remove_node(self, node_id: str) -> bool:
        """Remove a node from the Swarm (forced); False if the manager refused."""
        import docker.errors

        try:
            self._api.api.remove_node(node_id, force=True)
            return True
        except docker.errors.APIError:
            return False

    # --- services and jobs ------------------------------------------------------------------

    @translated
    def create_job(self, image: str, command: Sequence[str] | None, name: str,
                   env: Mapping[str, str], labels: Mapping[str, str], node_id: str | None,
                   isolation: Isolation) -> str:
        """A replicated job of one task that is never restarted (on ``node_id`` if given),
        isolated as a one-shot container is (``isolation``; the nodes' engines add
        no-new-privileges and give a container without a network none); its service id."""
        from docker.types import Mount, Resources, RestartPolicy, ServiceMode

        resources = Resources(cpu_limit=int(isolation.cpus * 1e9), mem_limit=isolation.memory)
        resources["Limits"]["Pids"] = isolation.pids  # API 1.41; the SDK has no argument
        return str(self._api.services.create(
            image, command=list(command) if command is not None else None, name=name,
            mode=ServiceMode("replicated-job", concurrency=1, replicas=1),
            restart_policy=RestartPolicy(condition="none"),
            env=[f"{k}={v}" for k, v in env.items()], labels=dict(labels),
            container_labels=dict(labels),  # the node's engine tells whose container it is
            constraints=[f"node.id=={node_id}"] if node_id else [],
            networks=[isolation.network] if isolation.network else [],
            cap_drop=["ALL"], read_only=not isolation.writable, user=isolation.user or None,
            mounts=[Mount("/tmp", None, type="tmpfs", tmpfs_size=isolation.tmp,
                          tmpfs_mode=0o1777)],
            resources=resources, log_driver="json-file",
            log_driver_options=dict(LOG_OPTIONS)).id)

    @translated
    def create_service(self, image: str, command: Sequence[str] | None, name: str,
                       env: Mapping[str, str], labels: Mapping[str, str], network: str | None,
                       aliases: Sequence[str], ports: Mapping[int, int]) -> str:
        """A service of one replica, never restarted, with DNS round robin (no virtual IP),
        on ``network`` under ``aliases``, its ``ports`` (published: target) published in
        host mode on the node that runs it; its service id."""
        from docker.types import EndpointSpec, NetworkAttachmentConfig, RestartPolicy

        return str(self._api.services.create(
            image, command=list(command) if command is not None else None, name=name,
            env=[f"{k}={v}" for k, v in env.items()], labels=dict(labels),
            restart_policy=RestartPolicy(condition="none"),
            networks=[NetworkAttachmentConfig(network, aliases=list(aliases))]
            if network else [],
            endpoint_spec=EndpointSpec(mode="dnsrr", ports={
                published: (target, "tcp", "host") for published, target in ports.items()})
            ).id)

    @translated
    def services_named(self, name: str) -> list[str]:
        """The ids of the services called exactly ``name``."""
        return [str(s.id) for s in self._api.services.list(filters={"name": name})
                if s.name == name]

    @translated
    def remove_service(self, service_id: str) -> None:
        """Remove a service (its tasks and their containers go with it)."""
        import docker.errors

        try:
            self._api.api.remove_service(service_id)
        except docker.errors.NotFound:
            pass

    @translated
    def remove_containers(self, service_id: str) -> int:
        """Remove (killing them first) this engine's containers of a service's tasks; how
        many. Swarm leaves a removed job's task running until it ends by itself."""
        found = self._api.api.containers(
            all=True, filters={"label": f"com.docker.swarm.service.id={service_id}"})
        for container in found:
            self._api.api.remove_container(container["Id"], force=True)
        return len(found)

    @translated
    def tasks(self, service_id: str) -> list[SwarmTask]:
        """The service's tasks, in the manager's order."""
        return [_task(t) for t in self._api.api.tasks(filters={"service": service_id})]

    @translated
    def logs(self, service_id: str) -> tuple[bytes, bytes]:
        """A service's stdout and stderr, apart (the SDK's ``logs`` merges them)."""
        out, err, _ = self.output(service_id, None)
        return out, err

    @translated
    def output(self, service_id: str, isolation: Isolation | None
               ) -> tuple[bytes, bytes, str]:
        """A job's stdout and stderr so far, apart, as far as ``isolation``'s caps allow:
        reading stops at the first stream past one, and the third value says which
        ("output too large: ...", or "" when all of it fit). Frames of a stream byte,
        three pad bytes, a big-endian size, one per line (or per 16 KB of one)."""
        api = self._api.api
        answer = api._get(api._url("/services/{0}/logs", service_id),
                          params={"stdout": 1, "stderr": 1, "follow": 0, "tail": "all"},
                          stream=True)
        api._raise_for_status(answer)
        kept = {1: bytearray(), 2: bytearray()}
        seen = {1: 0, 2: 0}
        lines = {1: 0, 2: 0}
        over = ""
        try:
            reader = answer.raw
            while not over and len(header := reader.read(8)) == 8:
                kind, size = struct.unpack(">BxxxL", header)
                data = reader.read(size)
                stream = 2 if kind == 2 else 1
                seen[stream] += len(data)
                lines[stream] += 1
                if isolation is None:
                    kept[stream] += data
                    continue
                kept[stream] += data[:max(isolation.output - len(kept[stream]), 0)]
                over = isolation.too_large("stderr" if stream == 2 else "stdout",
                                           seen[stream], lines[stream])
        finally:
            answer.close()
        return bytes(kept[1]), bytes(kept[2]), over

    # --- overlay networks -------------------------------------------------------------------

    @translated
    def networks_named(self, name: str) -> list[str]:
        """The ids of the networks called exactly ``name``."""
        return [str(n.id) for n in self._api.networks.list(names=[name]) if n.name == name]

    @translated
    def create_overlay(self, name: str, labels: Mapping[str, str]) -> None:
        """An attachable overlay network (containers on different nodes reach each other)."""
        self._api.networks.create(name, driver="overlay", attachable=True, labels=dict(labels))

    @translated
    def remove_network(self, network_id: str) -> None:
        """Remove a network; retried for ten seconds while a removed service's tasks still
        hold it (they leave it a moment after the service is gone)."""
        import docker.errors

        for _ in range(50):
            try:
                self._api.networks.get(network_id).remove()
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                time.sleep(0.2)
        self._api.networks.get(network_id).remove()


def _node(attrs: Mapping[str, Any]) -> Node:
    return Node(id=str(attrs.get("ID", "")), hostname=attrs["Description"]["Hostname"],
                state=attrs["Status"]["State"], availability=attrs["Spec"]["Availability"],
                role=attrs["Spec"].get("Role", ""))


def _task(found: Mapping[str, Any]) -> SwarmTask:
    status = found.get("Status") or {}
    code = (status.get("ContainerStatus") or {}).get("ExitCode")
    return SwarmTask(state=str(status.get("State", "")),
                     version=int((found.get("Version") or {}).get("Index", 0)),
                     node_id=str(found.get("NodeID") or ""),
                     exit_code=None if code is None else int(code),
                     error=str(status.get("Err") or ""))
