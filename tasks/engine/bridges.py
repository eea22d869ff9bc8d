"""Linux bridges and veth pairs the project makes for containers on this machine, and removes.

A bridge is named after the project's ``local_prefix`` (at most 15 characters, as Linux
allows) and gets the first address of a /24 of 10.229.0.0/16 that no route or address of this
machine uses (Docker's bridges are 172.17/16 and up; the cluster's own networks are others):
traffic to its containers goes from this machine's own stack across the bridge and a veth
pair, and never leaves the machine. ``ip`` (iproute2) does the work.
"""
from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..errors import LxcError

#: Where the bridges' subnets are taken from.
SUBNETS = ipaddress.IPv4Network("10.229.0.0/16")


@dataclass(frozen=True)
class Veth:
    """A network for one container: a veth pair whose host end is on ``bridge``."""

    bridge: str
    address: str  # the container's, with its prefix length: 10.229.7.2/24
    gateway: str  # the bridge's address: 10.229.7.1
    host_end: str  # the name of the veth's host end


@dataclass(frozen=True)
class Bridge:
    """A Linux bridge the project made, with an address on it, for LXC containers."""

    name: str
    network: ipaddress.IPv4Network

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    def veth(self, n: int, prefix: str) -> Veth:
        """The ``n``-th container's place on the bridge (n from 1: .2, .3, ...)."""
        address = f"{self.network.network_address + 1 + n}/{self.network.prefixlen}"
        return Veth(self.name, address, self.gateway, interface_name(prefix, f"v{n}"))


def _said(text: str) -> str:
    return " ".join(text.split())[-400:] or "no message"


def interface_name(prefix: str, what: str) -> str:
    """A network interface's name from a prefix (the project's ``local_prefix``) and a word:
    at most 15 characters, as Linux allows; a long prefix is shortened with a hash."""
    base = "".join(c for c in prefix if c.isalnum() or c in "-_") or "ac295-"
    name = base + what
    if len(name) <= 15:
        return name
    digest = hashlib.sha256(base.encode()).hexdigest()[:6]
    return (base[:15 - len(what) - 7] + digest + "-" + what)[:15]


def _ip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def _used_networks() -> list[ipaddress.IPv4Network]:
    found = []
    for line in _ip(["-4", "route", "show", "table", "all"]).stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        try:
            found.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    for line in _ip(["-4", "-o", "addr"]).stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            found.append(ipaddress.ip_network(parts[parts.index("inet") + 1], strict=False))
    return [n for n in found if isinstance(n, ipaddress.IPv4Network)]


def free_subnet(prefix: str) -> ipaddress.IPv4Network:
    """A /24 of 10.229.0.0/16 that no route or address of this machine uses; where the search
    starts depends on the prefix, so two copies of the project rarely try the same one."""
    used = _used_networks()
    subnets = list(SUBNETS.subnets(new_prefix=24))
    start = int(hashlib.sha256(prefix.encode()).hexdigest(), 16) % len(subnets)
    for n in range(len(subnets)):
        candidate = subnets[(start + n) % len(subnets)]
        if not any(candidate.overlaps(u) for u in used if u.prefixlen > 0):
            return candidate
    raise LxcError(f"no free /24 left in {SUBNETS} for a bridge.")


@contextmanager
def bridge(prefix: str) -> Iterator[Bridge]:
    """A bridge named after ``prefix`` with the first address of a free /24 of 10.229/16,
    removed (with the veth ends on it) when the block ends.

    Raises:
        LxcError: the bridge could not be made (a bridge of that name exists: another run
            of the same copy, or one left by a killed run; ``ip link del NAME`` removes it).
    """
    name = interface_name(prefix, "br")
    for attempt in range(5):
        network = free_subnet(prefix + str(attempt))
        made = _ip(["link", "add", name, "type", "bridge"])
        if made.returncode != 0:
            raise LxcError(f"cannot make the bridge {name}: {_said(made.stderr)} (a bridge "
                           f"left by a killed run? `ip link del {name}` removes it).")
        try:
            added = _ip(["addr", "add", f"{network.network_address + 1}/{network.prefixlen}",
                         "dev", name])
            if added.returncode == 0:
                up = _ip(["link", "set", name, "up"])
                if up.returncode != 0:
                    raise LxcError(f"cannot bring the bridge {name} up: {_said(up.stderr)}")
                yield Bridge(name, network)
                return
        finally:
            _ip(["link", "del", name])
    raise LxcError(f"cannot give the bridge {name} an address in {SUBNETS}.")
