"""The pure parts of the Swarm runner: log frames, placement, resubmission, publishing once."""
from __future__ import annotations

import io
import os
import struct
from types import SimpleNamespace
from unittest import mock

import pytest

from tasks.cluster import jobs
from tasks.cluster.nodes import Cluster, ClusterError


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


def fake_manager(body: bytes = b"") -> mock.Mock:
    client = mock.Mock()
    client.api._url.return_value = "/services/x/logs"
    client.api._get.return_value = SimpleNamespace(raw=io.BytesIO(body), close=lambda: None)
    return client


def test_logs_keep_stdout_and_stderr_apart_in_order():
    body = frame(1, b"Answer: ") + frame(2, b"warning\n") + frame(1, b"2640\n")
    out, err = jobs.logs(fake_manager(body), "x")
    assert (out, err) == (b"Answer: 2640\n", b"warning\n")


def node(ident: str, name: str, state: str = "ready", availability: str = "active"):
    return SimpleNamespace(id=ident, attrs={"Description": {"Hostname": name},
                                            "Status": {"State": state},
                                            "Spec": {"Availability": availability}})


def test_only_ready_active_nodes_take_jobs():
    client = mock.Mock()
    client.nodes.list.return_value = [node("a", "n1"), node("b", "n2", availability="drain"),
                                      node("c", "n3", state="down"), node("d", "n4")]
    assert jobs._ready_nodes(client) == {"a": "n1", "d": "n4"}


def task(state: str, index: int = 1, code: int | None = 0) -> dict:
    status = {"State": state, "ContainerStatus": {"ExitCode": code} if code is not None else {}}
    return {"Status": status, "Version": {"Index": index}}


@pytest.mark.parametrize("placed, tasks, expected", [
    (node("a", "n1"), [task("complete", 3), task("running", 2)], "complete"),
    (node("a", "n1", state="down"), [task("running")], None),  # its node died: resubmit
    (node("a", "n1", availability="drain"), [task("pending")], None),  # can never start there
])
def test_wait_ends_with_the_last_task_or_asks_to_resubmit(placed, tasks, expected):
    client = mock.Mock()
    client.api.tasks.return_value = tasks
    client.nodes.get.return_value = SimpleNamespace(attrs=placed.attrs)
    found = jobs._wait(client, "svc", "a", 5, "ex:check")
    assert (found["Status"]["State"] if found else None) == expected


def test_wait_times_out_with_an_error(monkeypatch):
    client = mock.Mock()
    client.api.tasks.return_value = [task("running")]
    client.nodes.get.return_value = SimpleNamespace(attrs=node("a", "n1").attrs)
    clock = iter([0.0, 0.0, 100.0])
    monkeypatch.setattr(jobs.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    with pytest.raises(ClusterError, match="within 5 s"):
        jobs._wait(client, "svc", "a", 5, "ex:check")


def test_an_image_is_pushed_once_per_cluster_registry(monkeypatch):
    pushed = []
    monkeypatch.setattr(jobs.images, "tag", lambda engine, image_id, ref: None)
    monkeypatch.setattr(jobs.registry, "push", lambda engine, ref, progress:
                        (pushed.append(ref) or "sha256:" + "d" * 64, 1))
    monkeypatch.setattr(jobs, "_PUBLISHED", {})
    engine = mock.Mock()
    one = Cluster(registry_push="127.0.0.1:4000", registry_pull="reg:5000")
    two = Cluster(registry_push="127.0.0.1:4001", registry_pull="reg:5000")
    image = "sha256:" + "a" * 64
    refs = {jobs.publish(engine, c, image, lambda line: None) for c in (one, one, two)}
    assert refs == {f"reg:5000/ac295/{'a' * 12}@sha256:{'d' * 64}"}
    tag = f"ac295/{'a' * 12}:job-{os.getpid()}"  # a tag of this process's own
    assert pushed == [f"127.0.0.1:4000/{tag}", f"127.0.0.1:4001/{tag}"]
    assert engine.client.api.remove_image.call_count == 2  # the push tags do not stay
