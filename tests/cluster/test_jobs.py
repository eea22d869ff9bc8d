"""The Swarm runner's own logic on plain values: placement, resubmission, publishing once.

The manager is a fake ``Remote`` answering in ``tasks.engine.swarm``'s values; how those are
read from the Docker API is tests/engine/test_swarm.py's business.
"""
from __future__ import annotations

import os
from unittest import mock

import pytest

from tasks.cluster import jobs
from tasks.cluster.nodes import Cluster
from tasks.engine.swarm import Node, Remote, SwarmTask
from tasks.errors import ClusterError


def node(ident: str, name: str, state: str = "ready", availability: str = "active") -> Node:
    return Node(id=ident, hostname=name, state=state, availability=availability, role="worker")


def test_only_ready_active_nodes_take_jobs():
    found = [node("a", "n1"), node("b", "n2", availability="drain"),
             node("c", "n3", state="down"), node("d", "n4")]
    assert jobs.ready_nodes(found) == {"a": "n1", "d": "n4"}


def task(state: str, index: int = 1, code: int | None = 0) -> SwarmTask:
    return SwarmTask(state=state, version=index, node_id="a", exit_code=code, error="")


def fake_remote(tasks: list[SwarmTask], placed: Node) -> mock.Mock:
    remote = mock.create_autospec(Remote, instance=True)
    remote.tasks.return_value = tasks
    remote.node.return_value = placed
    return remote


@pytest.mark.parametrize("placed, tasks, expected", [
    (node("a", "n1"), [task("complete", 3), task("running", 2)], "complete"),
    (node("a", "n1", state="down"), [task("running")], None),  # its node died: resubmit
    (node("a", "n1", availability="drain"), [task("pending")], None),  # can never start there
    (node("a", "n1", availability="drain"), [task("failed", 2), task("pending", 1)], "failed"),
])
def test_wait_ends_with_the_last_task_or_asks_to_resubmit(placed, tasks, expected):
    found = jobs._wait(fake_remote(tasks, placed), "svc", "a", 5, "ex:check")
    assert (found.state if found else None) == expected


def test_wait_times_out_with_an_error(monkeypatch):
    remote = fake_remote([task("running")], node("a", "n1"))
    clock = iter([0.0, 0.0, 100.0])
    monkeypatch.setattr(jobs.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    with pytest.raises(ClusterError, match="within 5 s"):
        jobs._wait(remote, "svc", "a", 5, "ex:check")


def test_an_image_is_pushed_once_per_cluster_registry(monkeypatch):
    pushed, untagged = [], []
    monkeypatch.setattr(jobs.images, "tag", lambda engine, image_id, ref: None)
    monkeypatch.setattr(jobs.images, "untag", lambda engine, ref: untagged.append(ref))
    monkeypatch.setattr(jobs.registry, "push", lambda engine, ref, progress:
                        (pushed.append(ref) or "sha256:" + "d" * 64, 1))
    monkeypatch.setattr(jobs, "_PUBLISHED", {})
    one = Cluster(registry_push="127.0.0.1:4000", registry_pull="reg:5000")
    two = Cluster(registry_push="127.0.0.1:4001", registry_pull="reg:5000")
    image = "sha256:" + "a" * 64
    refs = {jobs.publish(mock.Mock(), c, image, lambda line: None) for c in (one, one, two)}
    assert refs == {f"reg:5000/ac295/{'a' * 12}@sha256:{'d' * 64}"}
    tag = f"ac295/{'a' * 12}:job-{os.getpid()}"  # a tag of this process's own
    assert pushed == [f"127.0.0.1:4000/{tag}", f"127.0.0.1:4001/{tag}"]
    assert untagged == pushed  # the push tags do not stay


def test_a_job_lost_with_its_node_is_submitted_again_elsewhere(monkeypatch):
    """The first node dies under the job: the job goes to the other node, and the outcome
    is the second run's; both services are removed."""
    monkeypatch.setattr(jobs, "publish", lambda *args: "reg:5000/ac295/x@sha256:d")
    monkeypatch.setattr(jobs, "_PLACED", {})
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    remote = mock.create_autospec(Remote, instance=True)
    remote.__enter__.return_value = remote
    alive = {"a": node("a", "n1"), "b": node("b", "n2")}
    remote.nodes.side_effect = lambda: list(alive.values())
    remote.create_job.side_effect = ["svc1", "svc2"]
    remote.node.side_effect = lambda ident: alive.get(ident) or node(ident, "?", state="down")

    def tasks(service: str) -> list[SwarmTask]:
        if service == "svc1":
            alive.pop("a")  # n1 goes down while the job runs there
            return [task("running")]
        return [task("complete", code=3)]

    remote.tasks.side_effect = tasks
    remote.logs.return_value = (b"out\n", b"err\n")
    monkeypatch.setattr(jobs, "manager", lambda cluster: remote)
    said: list[str] = []
    found = jobs.run(mock.Mock(), Cluster(), "sha256:" + "a" * 64, ["true"], {}, 60, {},
                     "ex:q", said.append)
    assert (found.exit_code, found.stdout, found.stderr, found.node) == (3, "out\n", "err\n",
                                                                        "n2")
    assert [c.args[5] for c in remote.create_job.call_args_list] == ["a", "b"]  # node ids
    assert [c.args[0] for c in remote.remove_service.call_args_list] == ["svc1", "svc2"]
    assert any("n1 went away" in line for line in said)
