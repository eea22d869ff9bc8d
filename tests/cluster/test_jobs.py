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
from tasks.engine.containers import Isolation
from tasks.engine.swarm import Node, Remote, SwarmTask
from tasks.errors import RunLimit


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


def test_wait_times_out_with_a_run_limit(monkeypatch):
    remote = fake_remote([task("running")], node("a", "n1"))
    clock = iter([0.0, 0.0, 0.0, 100.0])
    monkeypatch.setattr(jobs.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    with pytest.raises(RunLimit, match="within 5 s") as raised:
        jobs._wait(remote, "svc", "a", 5, "ex:check")
    assert raised.value.reason == "timed out: still running after 5 s"


def test_a_running_job_past_its_output_caps_is_stopped_before_it_ends(monkeypatch):
    remote = fake_remote([task("running")], node("a", "n1"))
    remote.output.side_effect = [(b"", b"", ""),
                                 (b"y" * 100, b"", "output too large: more than 1 MB on stdout")]
    clock = iter(range(0, 1000, 1))  # a second a look: a look at its output every other
    monkeypatch.setattr(jobs.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    with pytest.raises(RunLimit) as raised:
        jobs._wait(remote, "svc", "a", 300, "ex:check", Isolation())
    assert raised.value.reason == "output too large: more than 1 MB on stdout"
    assert remote.output.call_count == 2


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
    remote.output.return_value = (b"out\n", b"err\n", "")
    monkeypatch.setattr(jobs, "manager", lambda cluster: remote)
    said: list[str] = []
    found = jobs.run(mock.Mock(), Cluster(), "sha256:" + "a" * 64, ["true"], {}, 60, {},
                     "ex:q", said.append)
    assert (found.exit_code, found.stdout, found.stderr, found.node) == (3, "out\n", "err\n",
                                                                        "n2")
    assert [c.args[5] for c in remote.create_job.call_args_list] == ["a", "b"]  # node ids
    assert [c.args[6] for c in remote.create_job.call_args_list] == [Isolation()] * 2
    assert [c.args[0] for c in remote.remove_service.call_args_list] == ["svc1", "svc2"]
    assert any("n1 went away" in line for line in said)


def test_a_job_whose_output_ends_past_the_caps_is_a_run_limit(monkeypatch):
    monkeypatch.setattr(jobs, "publish", lambda *args: "reg:5000/ac295/x@sha256:d")
    remote = mock.create_autospec(Remote, instance=True)
    remote.__enter__.return_value = remote
    remote.nodes.return_value = [node("a", "n1")]
    remote.create_job.return_value = "svc"
    remote.tasks.return_value = [task("complete", code=0)]
    remote.output.return_value = (b"y" * 1000, b"", "output too large: more than 20000 lines "
                                                    "on stdout")
    monkeypatch.setattr(jobs, "manager", lambda cluster: remote)
    with pytest.raises(RunLimit) as raised:
        jobs.run(mock.Mock(), Cluster(), "sha256:" + "a" * 64, None, {}, 60, {}, "ex:q",
                 lambda line: None)
    assert raised.value.reason == "output too large: more than 20000 lines on stdout"
    remote.remove_service.assert_called_once_with("svc")


def test_a_job_past_its_timeout_is_removed_from_its_node_then_from_the_swarm(monkeypatch):
    """Swarm leaves a removed job's task running: its node's engine removes the container."""
    monkeypatch.setattr(jobs, "publish", lambda *args: "reg:5000/ac295/x@sha256:d")
    monkeypatch.setattr(jobs, "_PLACED", {})
    order: list[str] = []
    remote = mock.create_autospec(Remote, instance=True)
    remote.__enter__.return_value = remote
    remote.nodes.return_value = [node("a", "ac295-swarm-node-2")]
    remote.create_job.return_value = "svc"
    remote.remove_service.side_effect = lambda service: order.append(f"swarm rm {service}")
    monkeypatch.setattr(jobs, "manager", lambda cluster: remote)

    def timed_out(*args, **kwargs):
        raise RunLimit("ex:q: ... within 60 s", "timed out: still running after 60 s")

    monkeypatch.setattr(jobs, "_wait", timed_out)
    on_node = mock.create_autospec(Remote, instance=True)
    on_node.__enter__.return_value = on_node
    on_node.answers.return_value = None
    on_node.remove_containers.side_effect = lambda service: order.append(f"node rm {service}")
    asked = []
    monkeypatch.setattr(jobs, "Remote", lambda url, timeout, tls: asked.append((url, tls))
                        or on_node)
    cluster = Cluster(nodes={"ac295-swarm-node-2": "172.29.53.12"}, tls="tls")  # type: ignore
    with pytest.raises(RunLimit) as raised:
        jobs.run(mock.Mock(), cluster, "sha256:" + "a" * 64, None, {}, 60, {}, "ex:q",
                 lambda line: None)
    assert raised.value.node == "ac295-swarm-node-2"  # the grade's table names it
    assert asked == [("tcp://172.29.53.12:2376", "tls")]
    assert order == ["node rm svc", "swarm rm svc"]
