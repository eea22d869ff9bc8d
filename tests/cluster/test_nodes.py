"""The cluster's own decisions on plain values: which subnet, which cluster is there, who
inits and who joins. The engine is faked at ``tasks.engine``'s functions."""
from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from tasks.cluster import nodes
from tasks.engine.swarm import Node, Remote, Tls
from tasks.errors import ClusterError


@pytest.fixture
def fake_machines(monkeypatch):
    """``tasks.engine.machines`` as a dict of answers; ``made`` collects the networks made."""
    state = {"subnet": None, "subnets": [], "labelled": [], "ports": None, "made": [],
             "labels": {}}
    monkeypatch.setattr(nodes.machines, "bridge_subnet", lambda engine, name: state["subnet"])
    monkeypatch.setattr(nodes.machines, "subnets", lambda engine: state["subnets"])
    monkeypatch.setattr(nodes.machines, "labelled", lambda engine, label: state["labelled"])
    monkeypatch.setattr(nodes.machines, "published_ports", lambda engine, name: state["ports"])
    monkeypatch.setattr(nodes.machines, "label",
                        lambda engine, name, key: state["labels"].get((name, key)))
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
                         labelled=["ac295-swarm-registry", "ac295-swarm-push",
                                   "ac295-swarm-node-2", "ac295-swarm-node-1"],
                         labels={("ac295-swarm-node-1", nodes.LABEL_TLS):
                                 "/p/.ac295/cluster/tls 0123456789abcdef"})
    assert nodes.current(mock.Mock()) == nodes.Cluster(
        nodes={"ac295-swarm-node-1": "172.29.53.11", "ac295-swarm-node-2": "172.29.53.12"},
        manager="tcp://172.29.53.11:2376", registry_push="127.0.0.1:40123",
        registry_pull="ac295-swarm-registry:5000",
        tls=Tls(ca=Path("/p/.ac295/cluster/tls/ca.pem"),
                cert=Path("/p/.ac295/cluster/tls/cert.pem"),
                key=Path("/p/.ac295/cluster/tls/key.pem")))
    fake_machines["labels"] = {}
    assert nodes.current(mock.Mock()) is None  # nodes without certificates: an old cluster
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
    tls = Path("/p/.ac295/cluster/tls")
    node = nodes.node_machine(subnet, 3, tls, "mark")
    assert (node.address, node.cap_add, node.cap_drop) == ("172.29.53.13", ["ALL"],
                                                           ["SYS_RESOURCE"])
    assert node.unconfined and node.host_cgroupns and not node.published
    assert node.mounts["ac295-swarm-node-3"] == "/var/lib/docker"  # overlay2 needs a volume
    assert node.read_only == {"/p/.ac295/cluster/tls/node-3": "/etc/ac295/tls"}  # its own
    assert node.labels[nodes.LABEL_TLS] == "mark"


def test_only_the_push_registry_is_published_and_it_is_off_the_clusters_network():
    subnet = ipaddress.IPv4Network("172.29.53.0/24")
    pull = nodes.registry_machine(subnet, Path("/p/tls"), "mark")
    assert (pull.network, pull.address, pull.published) == (nodes.NETWORK, "172.29.53.2", ())
    assert pull.read_only == {"ac295-swarm-registry": "/var/lib/docker-registry",
                              "/p/tls/registry": "/etc/ac295/tls"} and not pull.mounts
    push = nodes.registry_machine(subnet, Path("/p/tls"), "mark") and nodes.push_machine()
    assert (push.network, push.address, push.published) == (nodes.PUSH_NETWORK, "", [5000])
    assert push.mounts == {"ac295-swarm-registry": "/var/lib/docker-registry"}
    for machine in (pull, push):
        assert not machine.cap_add and not machine.unconfined and machine.restart


def test_node_list_is_docker_node_ls(monkeypatch):
    manager = engine_at("active", True)
    manager.__enter__.return_value = manager
    manager.nodes.return_value = [Node("b", "ac295-swarm-node-2", "ready", "active", "worker"),
                                  Node("a", "ac295-swarm-node-1", "ready", "active", "manager")]
    asked = []
    tls = Tls(ca=Path("ca"), cert=Path("cert"), key=Path("key"))
    monkeypatch.setattr(nodes, "Remote", lambda url, timeout, tls: asked.append((url, tls))
                        or manager)
    text = nodes.node_list(nodes.Cluster(manager="tcp://172.29.53.11:2376", tls=tls))
    assert asked == [("tcp://172.29.53.11:2376", tls)]
    assert text.splitlines()[1:] == ["ac295-swarm-node-1     ready    active        manager",
                                     "ac295-swarm-node-2     ready    active        worker"]


def test_a_real_swarm_is_asked_with_docker_cert_path_when_given():
    plain = nodes.elsewhere("tcp://m.example.org:2376", "reg.example.org:5000", "")
    assert (plain.manager, plain.registry_push, plain.registry_pull, plain.tls, plain.nodes) == \
        ("tcp://m.example.org:2376", "reg.example.org:5000", "reg.example.org:5000", None, {})
    tls = nodes.elsewhere("tcp://m.example.org:2376", "reg:5000", "/home/me/.docker").tls
    assert tls == Tls(ca=Path("/home/me/.docker/ca.pem"), cert=Path("/home/me/.docker/cert.pem"),
                      key=Path("/home/me/.docker/key.pem"))
    assert nodes.elsewhere("ssh://me@m", "reg:5000", "/home/me/.docker").tls is None
