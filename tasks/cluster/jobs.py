"""One-shot containers as Swarm replicated jobs: one task, no restart, output and exit code.

Before a job runs, its image is pushed to the cluster's registry and the job names it by
digest (``<registry>/ac295/<id>@sha256:...``): a node pulls exactly that image, whatever tags
do meanwhile. A job's logs are read from the manager before its service is removed (they go
with it), stdout and stderr apart. The manager is asked through ``tasks.engine.swarm``.

Two things Swarm does not do for one-shot jobs, done here: it spreads tasks by the ones
running, so jobs submitted one after another all land on one node (each job is therefore
placed on the ready node that ran the fewest of this process's jobs); and a job whose node
dies stays "running" for good (such a job, or one no node can take any more after a drain,
is removed and submitted again, at most twice).
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from typing import Mapping, Sequence

from ..engine import containers, images, registry
from ..engine.client import Engine
from ..engine.swarm import TERMINAL, Node, Remote, SwarmTask
from ..errors import ClusterError
from .nodes import Cluster
from ..progress import Progress

_PLACED: dict[str, int] = {}  # node id -> jobs this process placed there
_PUBLISHED: dict[tuple[str, str], str] = {}  # (registry, image id) -> reference by digest


@dataclass(frozen=True)
class JobOutcome(containers.Outcome):
    """What a job did (a one-shot container's outcome), and where."""

    node: str  # the hostname of the node that ran it


def manager(cluster: Cluster) -> Remote:
    """The cluster's manager, to be closed after use."""
    return Remote(cluster.manager, timeout=120)


def publish(engine: Engine, cluster: Cluster, image_id: str, progress: Progress) -> str:
    """Push the image to the cluster's registry (once per image); its reference by digest,
    as the nodes name it."""
    key = (cluster.registry_push, image_id)
    if key not in _PUBLISHED:
        repository = f"ac295/{image_id.split(':')[-1][:12]}"
        # a tag of this process's own: doit's workers (-n N) may push the same image at once
        local = f"{cluster.registry_push}/{repository}:job-{os.getpid()}"
        images.tag(engine, image_id, local)
        try:
            digest, _ = registry.push(engine, local, lambda line: None)
        finally:  # the tag only (the port changes per cluster); the image stays
            images.untag(engine, local)
        _PUBLISHED[key] = f"{cluster.registry_pull}/{repository}@{digest}"
        progress(f"pushed {image_id[7:19]} to the cluster's registry ({digest[7:19]})")
    return _PUBLISHED[key]


def ready_nodes(nodes: Sequence[Node]) -> dict[str, str]:
    """Node id -> hostname of the nodes that can take a job: ready and active."""
    return {n.id: n.hostname for n in nodes if n.state == "ready" and n.availability == "active"}


def run(engine: Engine, cluster: Cluster, image_id: str, command: Sequence[str] | None,
        env: Mapping[str, str], timeout: int, labels: Mapping[str, str], task: str,
        progress: Progress, network: str | None = None) -> JobOutcome:
    """Run a one-shot job on the cluster (on an overlay ``network``) and wait for its outcome.

    Raises:
        ClusterError: no node can run it, or it did not finish within ``timeout``.
    """
    ref = publish(engine, cluster, image_id, progress)
    with manager(cluster) as remote:
        for attempt in range(3):
            nodes = ready_nodes(remote.nodes())
            if not nodes:
                raise ClusterError(f"{task}: no node of the cluster is ready and active.")
            node = min(nodes, key=lambda n: (_PLACED.get(n, 0), nodes[n]))
            service = remote.create_job(ref, command, f"ac295-job-{uuid.uuid4().hex[:10]}",
                                        env, labels, node, network)
            try:
                found = _wait(remote, service, node, timeout, task)
                if found is None:
                    progress(f"{task}: {nodes[node]} went away before the job ended; "
                             "submitting it again")
                    continue
                _PLACED[node] = _PLACED.get(node, 0) + 1
                stdout, stderr = remote.logs(service)
                for _ in range(20):  # right after the end, the logs may lag
                    if stdout or stderr or found.state != "complete":
                        break
                    time.sleep(0.25)
                    stdout, stderr = remote.logs(service)
                if found.exit_code is None:
                    raise ClusterError(f"{task}: the job ended {found.state} without an "
                                       f"exit code ({found.error or 'no reason given'}).")
                return JobOutcome(found.exit_code, stdout.decode(errors="replace"),
                                  stderr.decode(errors="replace"), nodes[node])
            finally:
                remote.remove_service(service)
        raise ClusterError(f"{task}: the job was lost three times (its node went away).")


def _wait(remote: Remote, service_id: str, node: str, timeout: int,
          task: str) -> SwarmTask | None:
    """The job's final task, or None when it must be submitted again (its node is gone, or
    drained before the job started there)."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = remote.tasks(service_id)
        if tasks:
            last = max(tasks, key=lambda t: t.version)
            if last.state in TERMINAL:
                return last
            placed = remote.node(node)
            if placed.state == "down" or (
                    placed.availability != "active"
                    and last.state in ("pending", "assigned", "new", "allocated")):
                return None
        if time.monotonic() > deadline:
            raise ClusterError(f"{task}: the job did not finish within {timeout} s (raise "
                               "'timeout:' in the step if it needs longer).")
        time.sleep(0.2)
