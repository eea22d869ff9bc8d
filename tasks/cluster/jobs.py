"""One-shot containers as Swarm replicated jobs: one task, no restart, output and exit code.

Before a job runs, its image is pushed to the cluster's registry and the job names it by
digest (``<registry>/ac295/<id>@sha256:...``): a node pulls exactly that image, whatever tags
do meanwhile. A job's logs are read from the manager before its service is removed (they go
with it), demultiplexed so that stdout and stderr stay apart.

Two things Swarm does not do for one-shot jobs, done here: it spreads tasks by the ones
running, so jobs submitted one after another all land on one node (each job is therefore
placed on the ready node that ran the fewest of this process's jobs); and a job whose node
dies stays "running" for good (such a job, or one no node can take any more after a drain,
is removed and submitted again, at most twice).
"""
from __future__ import annotations

import os
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..engine import containers, images, registry
from ..engine.client import Engine
from ..errors import translated
from .nodes import Cluster, ClusterError
from ..progress import Progress

TERMINAL = {"complete", "failed", "rejected", "shutdown", "orphaned", "remove"}
_PLACED: dict[str, int] = {}  # node id -> jobs this process placed there
_PUBLISHED: dict[tuple[str, str], str] = {}  # (registry, image id) -> reference by digest


@dataclass(frozen=True)
class JobOutcome(containers.Outcome):
    """What a job did (a one-shot container's outcome), and where."""

    node: str  # the hostname of the node that ran it


def manager(cluster: Cluster) -> Any:
    import docker

    return docker.DockerClient(base_url=cluster.manager, timeout=120)


@translated
def publish(engine: Engine, cluster: Cluster, image_id: str, progress: Progress) -> str:
    """Push the image to the cluster's registry (once per image); its reference by digest,
    as the nodes name it."""
    key = (cluster.registry_push, image_id)
    if key not in _PUBLISHED:
        import docker.errors

        repository = f"ac295/{image_id.split(':')[-1][:12]}"
        # a tag of this process's own: doit's workers (-n N) may push the same image at once
        local = f"{cluster.registry_push}/{repository}:job-{os.getpid()}"
        images.tag(engine, image_id, local)
        try:
            digest, _ = registry.push(engine, local, lambda line: None)
        finally:
            try:  # the tag only (the port changes per cluster); the image stays
                engine.client.api.remove_image(local)
            except docker.errors.NotFound:
                pass
        _PUBLISHED[key] = f"{cluster.registry_pull}/{repository}@{digest}"
        progress(f"pushed {image_id[7:19]} to the cluster's registry ({digest[7:19]})")
    return _PUBLISHED[key]


def _ready_nodes(client: Any) -> dict[str, str]:
    return {n.id: n.attrs["Description"]["Hostname"] for n in client.nodes.list()
            if n.attrs["Status"]["State"] == "ready"
            and n.attrs["Spec"]["Availability"] == "active"}


def _submit(client: Any, ref: str, command: Sequence[str] | None, env: Mapping[str, str],
            labels: Mapping[str, str], node: str | None, network: str | None) -> Any:
    from docker.types import RestartPolicy, ServiceMode

    return client.services.create(
        ref, command=list(command) if command is not None else None,
        name=f"ac295-job-{uuid.uuid4().hex[:10]}",
        mode=ServiceMode("replicated-job", concurrency=1, replicas=1),
        restart_policy=RestartPolicy(condition="none"),
        env=[f"{k}={v}" for k, v in env.items()], labels=dict(labels),
        constraints=[f"node.id=={node}"] if node else [],
        networks=[network] if network else [])


def logs(client: Any, service_id: str) -> tuple[bytes, bytes]:
    """A service's stdout and stderr, apart (the SDK's ``logs`` merges them): frames of a
    stream byte, three pad bytes, a big-endian size."""
    api = client.api
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


@translated
def run(engine: Engine, cluster: Cluster, image_id: str, command: Sequence[str] | None,
        env: Mapping[str, str], timeout: int, labels: Mapping[str, str], task: str,
        progress: Progress, network: str | None = None) -> JobOutcome:
    """Run a one-shot job on the cluster (on an overlay ``network``) and wait for its outcome.

    Raises:
        ClusterError: no node can run it, or it did not finish within ``timeout``.
    """
    ref = publish(engine, cluster, image_id, progress)
    client = manager(cluster)
    try:
        for attempt in range(3):
            nodes = _ready_nodes(client)
            if not nodes:
                raise ClusterError(f"{task}: no node of the cluster is ready and active.")
            node = min(nodes, key=lambda n: (_PLACED.get(n, 0), nodes[n]))
            service = _submit(client, ref, command, env, labels, node, network)
            try:
                found = _wait(client, service.id, node, timeout, task)
                if found is None:
                    progress(f"{task}: {nodes[node]} went away before the job ended; "
                             "submitting it again")
                    continue
                _PLACED[node] = _PLACED.get(node, 0) + 1
                status = found["Status"]
                stdout, stderr = logs(client, service.id)
                for _ in range(20):  # right after the end, the logs may lag
                    if stdout or stderr or status["State"] != "complete":
                        break
                    time.sleep(0.25)
                    stdout, stderr = logs(client, service.id)
                code = (status.get("ContainerStatus") or {}).get("ExitCode")
                if code is None:
                    raise ClusterError(f"{task}: the job ended {status['State']} without an "
                                       f"exit code ({status.get('Err') or 'no reason given'}).")
                return JobOutcome(int(code), stdout.decode(errors="replace"),
                                  stderr.decode(errors="replace"), nodes[node])
            finally:
                service.remove()
        raise ClusterError(f"{task}: the job was lost three times (its node went away).")
    finally:
        client.close()


def _wait(client: Any, service_id: str, node: str, timeout: int, task: str) -> dict | None:
    """The job's final task, or None when it must be submitted again (its node is gone, or
    drained before the job started there)."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = client.api.tasks(filters={"service": service_id})
        if tasks:
            last = max(tasks, key=lambda t: t.get("Version", {}).get("Index", 0))
            state = last["Status"]["State"]
            if state in TERMINAL:
                return last
            placed = client.nodes.get(node).attrs
            if placed["Status"]["State"] == "down" or (
                    placed["Spec"]["Availability"] != "active"
                    and state in ("pending", "assigned", "new", "allocated")):
                return None
        if time.monotonic() > deadline:
            raise ClusterError(f"{task}: the job did not finish within {timeout} s (raise "
                               "'timeout:' in the step if it needs longer).")
        time.sleep(0.2)
