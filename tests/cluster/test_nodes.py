"""The cluster's own decisions on plain values: which subnet, which cluster is there, who
inits and who joins. The engine is faked at ``tasks.engine``'s functions."""
from __future__ import annotations

import ipaddress
import subprocess
from unittest import mock

import pytest

from tasks.cluster import nodes
from tasks.engine.swarm import Node, Remote
from tasks.errors import ClusterError


@pytest.fixture
def fake_machines(monkeypatch):
    """``tasks.engine.machines`` as a dict of answers; ``made`` collects the networks made."""
    state = {"subnet": None, "subnets": [], "labelled": [], "ports": None, "made": []}
    monkeypatch.setattr(nodes.machines, "bridge_subnet", lambda engine, name: state["subnet"])
    monkeypatch.setattr(nodes.machines, "subnets", lambda engine: state["subnets"])
    monkeypatch.setattr(nodes.machines, "labelled", lambda engine, label: state["labelled"])
    monkeypatch.setattr(nodes.machines, "published_ports", lambda engine, name: state["ports"])
    monkeypatch.setattr(nodes.machines, "create_bridge",
                        lambda engine, *args: state["made"].append(args))
    return state


def routes(monkeypatch, text: str) -> None:
    monkeypatch.setattr(nodes.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, stdout=text, stderr=""))


def test_the_first_free_candidate_subnet_is_taken(fake_machines, monkeypatch):
    fake_machines["subnets"] = ["172.17.0.0/16", "172.29.0.0/16"]  # docker0, another network
    routes(monkeypatch, "default via 10.0.0.1 dev eth0\n172.30.53.0/24 dev vpn0 scope link\n")
    assert nodes._subnet(mock.Mock()) == ipaddress.IPv4Network("172.31.53.0/24")
    assert fake_machines["made"] == [(nodes.NETWORK, "172.31.53.0/24", "172.31.53.128/25",
                                      "172.31.53.1", nodes.LABEL)]


def test_the_networks_own_subnet_is_kept(fake_machines, monkeypatch):
    fake_machines["subnet"] = "192.168.253.0/24"
    routes(monkeypatch, "")
    assert nodes._subnet(mock.Mock()) == ipaddress.IPv4Network("192.168.253.0/24")
    assert fake_machines["made"] == []


def test_no_free_subnet_is_a_cluster_error(fake_machines, monkeypatch):
    fake_machines["subnets"] = ["172.16.0.0/12", "192.168.0.0/16"]
    routes(monkeypatch, "")
    with pytest.raises(ClusterError, match="no free subnet"):
        nodes._subnet(mock.Mock())


def test_the_current_cluster_is_read_from_its_network_registry_and_nodes(fake_machines):
    assert nodes.current(mock.Mock()) is None  # nothing there
    fake_machines.update(subnet="172.29.53.0/24", ports={"5000/tcp": "40123"},
                         labelled=["ac295-swarm-registry", "ac295-swarm-node-2",
                                   "ac295-swarm-node-1"])
    assert nodes.current(mock.Mock()) == nodes.Cluster(
        nodes={"ac295-swarm-node-1": "172.29.53.11", "ac295-swarm-node-2": "172.29.53.12"},
        manager="tcp://172.29.53.11:2375", registry_push="127.0.0.1:40123",
        registry_pull="ac295-swarm-registry:5000")
    fake_machines["labelled"] = ["ac295-swarm-registry"]
    assert nodes.current(mock.Mock()) is None  # a registry without nodes is no cluster


def engine_at(state: str, control: bool = False) -> mock.Mock:
    remote = mock.create_autospec(Remote, instance=True)
    remote.swarm_state.return_value = (state, control)
    remote.worker_token.return_value = "SWMTKN-1"
    return remote


def test_the_manager_inits_and_only_workers_outside_the_swarm_join():
    manager, member, stranger, stale = (engine_at("inactive"), engine_at("active"),
                                        engine_at("inactive"), engine_at("error"))
    manager.nodes.return_value = [Node("x", nodes.node_name(2), "ready", "active", "worker")]
    addresses = {i: f"172.29.53.{10 + i}" for i in range(1, 5)}
    nodes._swarm({1: manager, 2: member, 3: stranger, 4: stale}, addresses, lambda line: None)
    manager.swarm_init.assert_called_once_with("172.29.53.11", "172.29.53.11:2377")
    member.swarm_join.assert_not_called()
    stranger.swarm_leave.assert_not_called()
    stranger.swarm_join.assert_called_once_with("172.29.53.11:2377", "SWMTKN-1", "172.29.53.13",
                                                "172.29.53.13:2377")
    stale.swarm_leave.assert_called_once()  # a node in a broken state leaves, then joins
    stale.swarm_join.assert_called_once()


def test_a_working_manager_is_left_alone():
    manager = engine_at("active", control=True)
    manager.nodes.return_value = []
    nodes._swarm({1: manager}, {1: "172.29.53.11"}, lambda line: None)
    manager.swarm_init.assert_not_called()
    manager.swarm_leave.assert_not_called()


def test_nodes_get_every_capability_but_sys_resource_and_never_privileged():
    """What the module says this machine allows (--privileged is refused here)."""
    subnet = ipaddress.IPv4Network("172.29.53.0/24")
    node = nodes.node_machine(subnet, 3)
    assert (node.address, node.cap_add, node.cap_drop) == ("172.29.53.13", ["ALL"],
                                                           ["SYS_RESOURCE"])
    assert node.unconfined and node.host_cgroupns and not node.published
    assert node.mounts["ac295-swarm-node-3"] == "/var/lib/docker"  # overlay2 needs a volume
    registry = nodes.registry_machine(subnet)
    assert (registry.address, registry.published, registry.restart) == ("172.29.53.2", [5000],
                                                                        True)
    assert not registry.cap_add and not registry.unconfined


def test_node_list_is_docker_node_ls(monkeypatch):
    manager = engine_at("active", True)
    manager.__enter__.return_value = manager
    manager.nodes.return_value = [Node("b", "ac295-swarm-node-2", "ready", "active", "worker"),
                                  Node("a", "ac295-swarm-node-1", "ready", "active", "manager")]
    asked = []
    monkeypatch.setattr(nodes, "Remote", lambda url, timeout: asked.append(url) or manager)
    text = nodes.node_list(nodes.Cluster(manager="tcp://172.29.53.11:2375"))
    assert asked == ["tcp://172.29.53.11:2375"]
    assert text.splitlines()[1:] == ["ac295-swarm-node-1     ready    active        manager",
                                     "ac295-swarm-node-2     ready    active        worker"]
