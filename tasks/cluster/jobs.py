"""One-shot containers as Swarm replicated jobs: one task, no restart, output and exit code.

Before a job runs, its image is pushed to the cluster's registry and the job names it by
digest (``<registry>/ac295/<id>@sha256:...``): a node pulls exactly that image, whatever tags
do meanwhile. A job is isolated as a one-shot container is (``Isolation``: no network, no
capabilities, a read-only root, bounded resources). Its logs are read from the manager before
its service is removed (they go with it), stdout and stderr apart, within the output caps;
they are also looked at every few seconds while it runs, so that a job printing without end
is stopped early ("output too large"), as is one past its timeout ("timed out"). Its container
is removed through its node's engine (Swarm leaves a removed job's task running). The manager
and the nodes are asked through ``tasks.engine.swarm``.

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
from ..engine.containers import Isolation
from ..engine.swarm import TERMINAL, Node, Remote, SwarmTask
from ..errors import ClusterError, RunLimit
from .nodes import ENGINE_PORT, Cluster
from ..progress import Progress

PEEK = 2.0  # seconds between looks at a running job's output
_PLACED: dict[str, int] = {}  # node id -> jobs this process placed there
_PUBLISHED: dict[tuple[str, str], str] = {}  # (registry, image id) -> reference by digest


@dataclass(frozen=True)
class JobOutcome(containers.Outcome):
    """What a job did (a one-shot container's outcome), and where."""

    node: str  # the hostname of the node that ran it


def manager(cluster: Cluster) -> Remote:
    """The cluster's manager, to be closed after use."""
    return Remote(cluster.manager, timeout=120, tls=cluster.tls)


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
        progress: Progress, isolation: Isolation = Isolation()) -> JobOutcome:
    """Run a one-shot job on the cluster, isolated as ``isolation`` says (on its overlay
    network, if it names one), and wait for its outcome.

    Raises:
        RunLimit: it did not finish within ``timeout``, or printed more than the caps (it is
            removed then).
        ClusterError: no node can run it, or it ended without running (its image could not
            be pulled, the node refused it).
    """
    ref = publish(engine, cluster, image_id, progress)
    with manager(cluster) as remote:
        for attempt in range(3):
            nodes = ready_nodes(remote.nodes())
            if not nodes:
                raise ClusterError(f"{task}: no node of the cluster is ready and active.")
            node = min(nodes, key=lambda n: (_PLACED.get(n, 0), nodes[n]))
            service = remote.create_job(ref, command, f"ac295-job-{uuid.uuid4().hex[:10]}",
                                        env, labels, node, isolation)
            try:
                try:
                    found = _wait(remote, service, node, timeout, task, isolation)
                except RunLimit as err:
                    err.node = nodes[node]
                    raise
                if found is None:
                    progress(f"{task}: {nodes[node]} went away before the job ended; "
                             "submitting it again")
                    continue
                _PLACED[node] = _PLACED.get(node, 0) + 1
                stdout, stderr, over = remote.output(service, isolation)
                for _ in range(20):  # right after the end, the logs may lag
                    if stdout or stderr or over or found.state != "complete":
                        break
                    time.sleep(0.25)
                    stdout, stderr, over = remote.output(service, isolation)
                if over:
                    raise _too_large(task, over, nodes[node])
                if found.exit_code is None:
                    raise ClusterError(f"{task}: the job ended {found.state} without an "
                                       f"exit code ({found.error or 'no reason given'}).")
                return JobOutcome(found.exit_code, stdout.decode(errors="replace"),
                                  stderr.decode(errors="replace"), nodes[node])
            finally:
                _stop(cluster, nodes[node], service)
                remote.remove_service(service)
        raise ClusterError(f"{task}: the job was lost three times (its node went away).")


def _stop(cluster: Cluster, hostname: str, service: str) -> None:
    """Remove the job's container on its node (Swarm 20.10 leaves a removed job's task
    running until it ends by itself, and a job past its timeout may never end). Only a
    cluster whose nodes' addresses are known (``script/cluster``'s) can be asked; a node
    that is gone has nothing left to stop."""
    address = cluster.nodes.get(hostname)
    if not address:
        return
    with Remote(f"tcp://{address}:{ENGINE_PORT}", timeout=60, tls=cluster.tls) as node:
        if node.answers() is None:
            node.remove_containers(service)


def _too_large(task: str, over: str, node: str = "") -> RunLimit:
    return RunLimit(f"{task}: {over.replace('output too large: ', 'the job printed ')}; it was "
                    "stopped and its output dropped.", over, node)


def _wait(remote: Remote, service_id: str, node: str, timeout: int, task: str,
          isolation: Isolation | None = None) -> SwarmTask | None:
    """The job's final task, or None when it must be submitted again (its node is gone, or
    drained before the job started there).

    Raises:
        RunLimit: past ``timeout``, or (looked at every ``PEEK`` seconds while it runs) its
            output is past the caps.
    """
    deadline = time.monotonic() + timeout
    peek = time.monotonic() + PEEK
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
            if isolation is not None and last.state == "running" and time.monotonic() > peek:
                over = remote.output(service_id, isolation)[2]
                if over:
                    raise _too_large(task, over)
                peek = time.monotonic() + PEEK
        if time.monotonic() > deadline:
            raise RunLimit(f"{task}: the job did not finish within {timeout} s (raise "
                           "'timeout:' in the step if it needs longer).",
                           f"timed out: still running after {timeout} s")
        time.sleep(0.2)
