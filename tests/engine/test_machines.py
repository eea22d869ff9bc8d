"""Containers that stand for machines, against a spec'd fake engine: a machine's plain values
become the container the Docker API is asked for, and what it answers comes back plain."""
from __future__ import annotations

import docker.errors

from helpers import fake_engine
from tasks.engine import machines
from tasks.engine.machines import Machine


def test_a_machine_is_created_at_its_address_with_what_it_asks_and_nothing_else():
    engine, client = fake_engine()
    api = client.api
    api.create_container.return_value = {"Id": "c1"}
    machines.create(engine, Machine(
        name="n-1", image="img:1", network="net", address="172.29.53.11",
        labels={"org.ac295.cluster": "swarm"}, hostname="n-1", environment={"A": "b"},
        cap_add=["ALL"], cap_drop=["SYS_RESOURCE"], unconfined=True, host_cgroupns=True,
        tmpfs=["/run"], mounts={"/sys/fs/cgroup": "/sys/fs/cgroup", "n-1": "/var/lib/docker"}))
    api.create_endpoint_config.assert_called_once_with(ipv4_address="172.29.53.11")
    api.create_host_config.assert_called_once_with(
        network_mode="net", cap_add=["ALL"], cap_drop=["SYS_RESOURCE"],
        security_opt=["seccomp=unconfined", "apparmor=unconfined"], cgroupns="host",
        tmpfs={"/run": ""}, binds={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"},
                                   "n-1": {"bind": "/var/lib/docker", "mode": "rw"}})
    made = api.create_container.call_args.kwargs
    assert (made["name"], made["image"], made["hostname"]) == ("n-1", "img:1", "n-1")
    assert made["environment"] == {"A": "b"} and made["labels"] == {"org.ac295.cluster": "swarm"}
    assert made["entrypoint"] is None and made["command"] is None and made["ports"] is None
    api.start.assert_called_once_with("c1")


def test_a_published_port_is_on_loopback_only_at_a_free_port():
    engine, client = fake_engine()
    client.api.create_container.return_value = {"Id": "r"}
    machines.create(engine, Machine(name="reg", image="img", network="net", address="10.1.0.2",
                                    labels={}, published=[5000], restart=True,
                                    entrypoint=["/usr/bin/docker-registry"], command=["serve"]))
    host = client.api.create_host_config.call_args.kwargs
    assert host["port_bindings"] == {5000: ("127.0.0.1", None)}
    assert host["restart_policy"] == {"Name": "unless-stopped"}
    made = client.api.create_container.call_args.kwargs
    assert made["ports"] == [5000] and made["entrypoint"] == ["/usr/bin/docker-registry"]


def test_answers_come_back_as_plain_values():
    engine, client = fake_engine()
    client.api.networks.return_value = [
        {"Name": "bridge", "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}},
        {"Name": "host", "IPAM": {"Config": []}}, {"Name": "none", "IPAM": None}]
    assert machines.subnets(engine) == ["172.17.0.0/16"]
    client.api.containers.return_value = [{"Names": ["/ac295-swarm-node-2"]},
                                          {"Names": ["/ac295-swarm-registry"]}]
    assert machines.labelled(engine, "org.ac295.cluster") == ["ac295-swarm-node-2",
                                                              "ac295-swarm-registry"]
    client.api.inspect_container.return_value = {"NetworkSettings": {"Ports": {
        "5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40123"}], "5001/tcp": None}}}
    assert machines.published_ports(engine, "reg") == {"5000/tcp": "40123"}
    client.api.inspect_container.side_effect = docker.errors.NotFound("no such container")
    assert machines.published_ports(engine, "reg") is None


def test_only_the_network_of_that_exact_name_is_removed():
    engine, client = fake_engine()
    client.api.networks.return_value = [{"Name": "ac295-swarm-net2", "Id": "other"}]
    assert machines.remove_network(engine, "ac295-swarm-net") is False
    client.api.networks.return_value = [{"Name": "ac295-swarm-net", "Id": "ours"},
                                        {"Name": "ac295-swarm-net2", "Id": "other"}]
    assert machines.remove_network(engine, "ac295-swarm-net") is True
    client.api.remove_network.assert_called_once_with("ours")


def test_removing_what_is_gone_is_fine():
    engine, client = fake_engine()
    client.api.remove_container.side_effect = docker.errors.NotFound("gone")
    client.api.remove_volume.side_effect = docker.errors.NotFound("gone")
    machines.remove_container(engine, "n-3")
    machines.remove_volume(engine, "n-3")
    client.api.remove_container.assert_called_once_with("n-3", force=True, v=True)
