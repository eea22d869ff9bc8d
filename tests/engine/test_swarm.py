"""A Swarm's manager through a spec'd fake Docker client: what the API answers becomes plain
values, and what the cluster asks becomes the API calls the Swarm needs."""
from __future__ import annotations

import io
import struct
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import docker
import docker.errors
import pytest
import requests

from tasks.engine.containers import Isolation
from tasks.engine import swarm
from tasks.engine.swarm import Node, Remote, SwarmTask, Tls
from tasks.errors import EngineError


def fake_client() -> mock.Mock:
    client = mock.Mock(spec=docker.DockerClient)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    for part in ("nodes", "services", "networks", "swarm"):
        setattr(client, part, mock.Mock())
    return client


def remote(client: mock.Mock) -> Remote:
    made: list[tuple[str, int, Tls | None]] = []

    def factory(base_url: str, timeout: int, tls: Tls | None) -> mock.Mock:
        made.append((base_url, timeout, tls))
        return client

    found = Remote("tcp://10.0.0.1:2376", timeout=7, tls=TLS, factory=factory)
    found.made = made  # type: ignore[attr-defined]
    return found


TLS = Tls(ca=Path("/s/tls/ca.pem"), cert=Path("/s/tls/cert.pem"), key=Path("/s/tls/key.pem"))


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def test_logs_keep_stdout_and_stderr_apart_in_order():
    client = fake_client()
    body = frame(1, b"Answer: ") + frame(2, b"warning\n") + frame(1, b"2640\n")
    client.api._url.return_value = "/services/x/logs"
    client.api._get.return_value = SimpleNamespace(raw=io.BytesIO(body), close=lambda: None)
    assert remote(client).logs("x") == (b"Answer: 2640\n", b"warning\n")
    assert client.api._get.call_args.kwargs["params"]["follow"] == 0


def node_attrs(ident: str, name: str, state: str, availability: str, role: str) -> dict:
    return {"ID": ident, "Description": {"Hostname": name}, "Status": {"State": state},
            "Spec": {"Availability": availability, "Role": role}}


def test_nodes_and_tasks_are_plain_values():
    client = fake_client()
    client.nodes.list.return_value = [
        SimpleNamespace(attrs=node_attrs("n1", "ac295-swarm-node-1", "ready", "active",
                                         "manager")),
        SimpleNamespace(attrs=node_attrs("n2", "ac295-swarm-node-2", "down", "drain",
                                         "worker"))]
    client.api.tasks.return_value = [
        {"NodeID": "n2", "Version": {"Index": 12},
         "Status": {"State": "complete", "ContainerStatus": {"ExitCode": 3}}},
        {"Version": {"Index": 9}, "Status": {"State": "rejected", "Err": "no such image"}}]
    found = remote(client)
    assert found.nodes() == [Node("n1", "ac295-swarm-node-1", "ready", "active", "manager"),
                             Node("n2", "ac295-swarm-node-2", "down", "drain", "worker")]
    assert found.tasks("svc") == [SwarmTask("complete", 12, "n2", 3, ""),
                                  SwarmTask("rejected", 9, "", None, "no such image")]
    client.api.tasks.assert_called_once_with(filters={"service": "svc"})


def test_one_connection_until_closed():
    client = fake_client()
    client.nodes.list.return_value = []
    found = remote(client)
    found.nodes()
    found.tasks("svc")
    assert found.made == [("tcp://10.0.0.1:2376", 7, TLS)]  # type: ignore[attr-defined]
    found.close()
    client.close.assert_called_once()
    found.nodes()
    assert len(found.made) == 2  # type: ignore[attr-defined]


def test_a_job_is_one_task_never_restarted_on_the_node_asked_and_isolated():
    client = fake_client()
    client.services.create.return_value = SimpleNamespace(id="svc")
    assert remote(client).create_job("reg:5000/a@sha256:d", ["python3", "q.py"], "ac295-job-1",
                                     {"A": "1"}, {"l": "v"}, "n2", Isolation()) == "svc"
    image = client.services.create.call_args.args[0]
    options = client.services.create.call_args.kwargs
    assert image == "reg:5000/a@sha256:d"
    assert options["command"] == ["python3", "q.py"] and options["name"] == "ac295-job-1"
    assert options["mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert options["restart_policy"]["Condition"] == "none"
    assert options["env"] == ["A=1"] and options["labels"] == {"l": "v"}
    assert options["container_labels"] == {"l": "v"}
    assert options["constraints"] == ["node.id==n2"] and options["networks"] == []
    # the profile of a one-shot container, written out by hand
    assert (options["cap_drop"], options["read_only"], options["user"]) == (["ALL"], True, None)
    assert options["mounts"] == [{"Target": "/tmp", "Source": None, "Type": "tmpfs",
                                  "ReadOnly": False, "TmpfsOptions": {"SizeBytes": 64 << 20,
                                                                      "Mode": 0o1777}}]
    assert options["resources"] == {"Limits": {"NanoCPUs": 1_000_000_000,
                                               "MemoryBytes": 2 << 30, "Pids": 256}}
    assert (options["log_driver"], options["log_driver_options"]) == \
        ("json-file", {"max-size": "16m", "max-file": "2"})


def test_a_job_asks_for_its_network_user_and_writable_root():
    client = fake_client()
    client.services.create.return_value = SimpleNamespace(id="svc")
    remote(client).create_job("img", None, "j", {}, {}, None,
                              Isolation(network="net", user="1000:1000", writable=True))
    options = client.services.create.call_args.kwargs
    assert (options["networks"], options["user"], options["read_only"]) == \
        (["net"], "1000:1000", False)
    assert options["constraints"] == []


@pytest.mark.parametrize("frames, kept, over", [
    ([(1, b"Answer: 2640\n"), (2, b"warn\n")], (b"Answer: 2640\n", b"warn\n"), ""),
    ([(1, b"a" * 600_000), (1, b"b" * 600_000), (1, b"never read")],
     (b"a" * 600_000 + b"b" * 448_576, b""), "output too large: more than 1 MB on stdout"),
    ([(2, b"y\n")] * 20_001 + [(2, b"never read")], (b"", b"y\n" * 20_001),
     "output too large: more than 20000 lines on stderr"),
])
def test_a_jobs_output_is_read_up_to_the_caps_only(frames, kept, over):
    client = fake_client()
    body = io.BytesIO(b"".join(frame(stream, data) for stream, data in frames))
    client.api._url.return_value = "/services/x/logs"
    client.api._get.return_value = SimpleNamespace(raw=body, close=lambda: None)
    assert remote(client).output("x", Isolation()) == (*kept, over)
    if over:
        assert body.read() .endswith(b"never read")  # the rest was left unread


def test_a_service_publishes_in_host_mode_with_dns_round_robin():
    client = fake_client()
    client.services.create.return_value = SimpleNamespace(id="svc")
    remote(client).create_service("img", None, "web", {}, {}, "net", ["server"], {8082: 8080})
    options = client.services.create.call_args.kwargs
    assert options["command"] is None
    assert options["endpoint_spec"] == {"Mode": "dnsrr", "Ports": [
        {"PublishedPort": 8082, "TargetPort": 8080, "Protocol": "tcp", "PublishMode": "host"}]}
    assert (options["networks"][0]["Target"], options["networks"][0]["Aliases"]) == \
        ("net", ["server"])


def test_a_network_busy_a_moment_is_removed_on_a_later_try(monkeypatch):
    monkeypatch.setattr("tasks.engine.swarm.time.sleep", lambda s: None)
    client = fake_client()
    network = mock.Mock()
    network.remove.side_effect = [docker.errors.APIError("has active endpoints"), None]
    client.networks.get.return_value = network
    remote(client).remove_network("abc")
    assert network.remove.call_count == 2


def test_a_node_that_does_not_answer_says_why_and_raises_nothing():
    def refuse(base_url: str, timeout: int, tls: Tls | None) -> None:
        raise docker.errors.DockerException("Error while fetching server API version")

    assert "server API version" in (Remote("tcp://10.0.0.9:2375", factory=refuse).answers()
                                    or "")
    client = fake_client()
    client.ping.side_effect = requests.ConnectionError("refused")
    assert remote(client).answers() == "refused"


def test_the_sdks_errors_leave_as_engine_errors():
    client = fake_client()
    client.api.tasks.side_effect = docker.errors.APIError("500 Server Error")
    with pytest.raises(EngineError, match="500 Server Error"):
        remote(client).tasks("svc")


def test_removing_what_is_gone_is_fine():
    client = fake_client()
    client.api.remove_service.side_effect = docker.errors.NotFound("no such service")
    client.api.remove_node.side_effect = docker.errors.APIError("node is the manager")
    found = remote(client)
    found.remove_service("svc")
    assert found.remove_node("n1") is False


def test_a_tls_engine_is_asked_with_the_client_certificate_and_only_the_clusters_ca(tmp_path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-")
    tls = Tls(ca=tmp_path / "ca.pem", cert=tmp_path / "cert.pem", key=tmp_path / "key.pem")
    client = swarm._client("tcp://10.0.0.1:2376", 5, tls)  # nothing is asked yet
    assert client.api.base_url == "https://10.0.0.1:2376"
    assert client.api.cert == (str(tls.cert), str(tls.key))
    assert client.api.verify == str(tls.ca)
    assert client.api.trust_env is False  # $REQUESTS_CA_BUNDLE would replace the CA
    client.close()


def test_a_services_containers_on_a_node_are_killed_and_removed():
    client = fake_client()
    client.api.containers.return_value = [{"Id": "c1"}, {"Id": "c2"}]
    assert remote(client).remove_containers("svc") == 2
    client.api.containers.assert_called_once_with(
        all=True, filters={"label": "com.docker.swarm.service.id=svc"})
    assert client.api.remove_container.call_args_list == [mock.call("c1", force=True),
                                                          mock.call("c2", force=True)]
