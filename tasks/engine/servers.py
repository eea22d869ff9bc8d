"""A server in a Docker container, reached from this machine through one of Docker's network
paths, for as long as a block lasts (the compare exercise's network tests).

The paths (``PATHS``), from the most layers to the fewest:

- ``published``: the port published on 127.0.0.1 (``-p 127.0.0.1:P:P``). Docker's userland
  proxy (``docker-proxy``) accepts the connection on the host and opens another to the
  container across the bridge (``docker0``) and a veth pair;
- ``nat``: the port published on this machine's own address; the kernel rewrites the
  destination (iptables DNAT in Docker's ``DOCKER`` chain) and routes to the container across
  the bridge: no proxy process;
- ``bridge``: the container's own address on ``docker0``, straight across the bridge and
  the veth pair: no NAT, no proxy;
- ``host``: ``--network host``: the container uses this machine's network stack; the path is
  loopback, as a native program's.

Traffic stays on this machine: its own addresses, its own bridge.
"""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..errors import EngineError
from .boundary import translated
from .client import CONTAINER_LIMITS, Engine

PATHS = {
    "published": "port published on 127.0.0.1: docker-proxy, then bridge and veth",
    "nat": "port published on this machine's address: iptables DNAT, bridge and veth",
    "bridge": "the container's address on docker0: bridge and veth, no NAT",
    "host": "--network host: this machine's own stack (loopback)",
}


def own_address() -> str:
    """This machine's first global IPv4 address (the one its default route leaves from)."""
    found = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                           capture_output=True, text=True).stdout
    for line in found.splitlines():
        parts = line.split()
        if "inet" in parts and not parts[1].startswith(("docker", "br-", "veth")):
            return parts[parts.index("inet") + 1].split("/")[0]
    raise EngineError("this machine has no global IPv4 address to publish a port on.")


@translated
def _start(engine: Engine, image: str, command: Sequence[str], ports: Sequence[int],
           path: str, labels: dict[str, str]) -> tuple[Any, str]:
    kwargs: dict[str, object] = {}
    address = "127.0.0.1"
    if path == "host":
        kwargs["network_mode"] = "host"
    elif path in ("published", "nat"):
        address = "127.0.0.1" if path == "published" else own_address()
        kwargs["ports"] = {f"{port}/tcp": (address, port) for port in ports}
    container = engine.client.containers.create(image, command=list(command), detach=True,
                                                labels=labels, **kwargs, **CONTAINER_LIMITS)
    try:
        container.start()
        if path == "bridge":
            container.reload()
            address = (container.attrs.get("NetworkSettings") or {}).get("IPAddress") or ""
            if not address:
                raise EngineError("the container has no address on Docker's bridge.")
    except BaseException:
        container.remove(force=True)
        raise
    return container, address


@translated
def _remove(container: Any) -> None:
    container.remove(force=True)


@contextmanager
def docker_server(engine: Engine, image: str, command: Sequence[str], ports: Sequence[int],
                  path: str, labels: dict[str, str] | None = None) -> Iterator[str]:
    """A container running ``command`` until the block ends (then removed); yields the
    address this machine reaches its ``ports`` at, through ``path`` (see the module).

    Raises:
        EngineError: an unknown path, or the container could not start.
    """
    if path not in PATHS:
        raise EngineError(f"unknown Docker network path '{path}': {', '.join(PATHS)}.")
    container, address = _start(engine, image, command, ports, path, labels or {})
    try:
        yield address
    finally:
        _remove(container)
