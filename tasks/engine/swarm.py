"""A Docker Swarm through the Docker API of its manager (or of one of its nodes).

``Remote`` is the engine at an address (``tcp://host:2375``): joining and leaving the Swarm,
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

from .boundary import translated

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


def _client(base_url: str, timeout: int) -> Any:
    import docker

    return docker.DockerClient(base_url=base_url, timeout=timeout)


class Remote:
    """The Docker API of an engine elsewhere, connected on first use; ``close`` (or ``with``)
    ends the connection.

    Args:
        base_url: the engine's address, ``tcp://host:port``.
        timeout: seconds a request may take.
        factory: makes the client from (base_url, timeout); a fake in unit tests.
    """

    def __init__(self, base_url: str, timeout: int = 120,
                 factory: Callable[[str, int], Any] | None = None) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._factory = factory or _client
        self._connected: Any = None

    @property
    def _api(self) -> Any:
        if self._connected is None:
            self._connected = self._factory(self.base_url, self.timeout)
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
                   network: str | None) -> str:
        """A replicated job of one task that is never restarted (on ``node_id`` if given, on
        ``network`` if given); its service id."""
        from docker.types import RestartPolicy, ServiceMode

        return str(self._api.services.create(
            image, command=list(command) if command is not None else None, name=name,
            mode=ServiceMode("replicated-job", concurrency=1, replicas=1),
            restart_policy=RestartPolicy(condition="none"),
            env=[f"{k}={v}" for k, v in env.items()], labels=dict(labels),
            constraints=[f"node.id=={node_id}"] if node_id else [],
            networks=[network] if network else []).id)

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
    def tasks(self, service_id: str) -> list[SwarmTask]:
        """The service's tasks, in the manager's order."""
        return [_task(t) for t in self._api.api.tasks(filters={"service": service_id})]

    @translated
    def logs(self, service_id: str) -> tuple[bytes, bytes]:
        """A service's stdout and stderr, apart (the SDK's ``logs`` merges them): frames of a
        stream byte, three pad bytes, a big-endian size."""
        api = self._api.api
        answer = api._get(api._url("/services/{0}/logs", service_id),
                          params={"stdout": 1, "stderr": 1, "follow": 0, "tail": "all"},
                          stream=True)
        api._raise_for_status(answer)
        out: list[bytes] = []
        err: list[bytes] = []
        raw = answer.raw
        while len(header := raw.read(8)) == 8:
            stream, size = struct.unpack(">BxxxL", header)
            data = raw.read(size)
            (err if stream == 2 else out).append(data)
        answer.close()
        return b"".join(out), b"".join(err)

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
