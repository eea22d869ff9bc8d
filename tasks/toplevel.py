"""The project's own top-level tasks: the local registry service, and ``ac295.lock``.

``registry_start`` / ``registry_stop`` run the loopback registry (pushes and pulls set up the
start only when they must run); ``lock`` writes ``ac295.lock`` from this machine's records and
``verify`` compares them with it.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from .errors import LockError
from .graph import pipelock
from .kinds.actions import Always, Check, action, progress
from .kinds.base import REGISTRY_START, REGISTRY_STOP, Registry
from .kinds.runtime import Runtime
from .spec.model import Exercise


def registry_start(rt: Runtime) -> None:
    """Start the local registry (a `setup` of pushes: it runs only when a push must run)."""
    local = rt.local_registry
    if local is None:
        progress(f"the registry {rt.config.registry} is not local; nothing to start")
        return
    local.start(progress)


def registry_stop(rt: Runtime) -> None:
    """Stop the local registry if this project started it."""
    local = rt.local_registry
    if local is not None:
        local.stop(progress)


def registry_running(rt: Runtime) -> bool:
    """True if the local registry runs (or the registry is not ours to start)."""
    local = rt.local_registry
    return local is None or local.running()  # a foreign one: the action says so


def write_lock(rt: Runtime, fields: Mapping[str, tuple[str, ...]]) -> None:
    """Write ac295.lock from this machine's records."""
    facts = pipelock.current(rt.config.state, fields)
    pipelock.write(rt.config.root / pipelock.LOCK_FILE, facts)
    progress(f"{pipelock.LOCK_FILE}: {len(facts)} step(s) locked")


def verify_lock(rt: Runtime, fields: Mapping[str, tuple[str, ...]]) -> None:
    """Compare this machine's records with ac295.lock; fail with one line per difference."""
    path = rt.config.root / pipelock.LOCK_FILE
    lines = pipelock.differences(pipelock.read(path), pipelock.current(rt.config.state, fields))
    if lines:
        raise LockError(f"{len(lines)} difference(s) from {path.name} (accept this machine's "
                        "results with `doit lock`):\n" + "\n".join(lines))
    progress(f"{len(fields)} step(s) match {path.name}")


def locked_fields(kinds: Registry, exercises: list[Exercise]) -> dict[str, tuple[str, ...]]:
    """For each step the lock covers (a kind with lock fields, not ephemeral): its fields."""
    return {s.task: kinds.of(s).lock_fields for e in exercises for s in e.steps.values()
            if kinds.of(s).lock_fields and not kinds.of(s).ephemeral(s)}


def project_tasks(rt: Runtime, kinds: Registry, exercises: list[Exercise]
                  ) -> Iterator[dict[str, Any]]:
    """The top-level tasks: lock, verify, registry_start, registry_stop."""
    fields = locked_fields(kinds, exercises)
    lock_file = str(rt.config.root / pipelock.LOCK_FILE)
    records_of = [str(rt.record_path(task)) for task in fields]
    yield {"basename": "lock", "doc": f"write {pipelock.LOCK_FILE}: every exercise's results "
           "(env locks, image inputs and ids, pushed digests), to commit",
           "actions": [action(write_lock, rt, fields)], "file_dep": records_of,
           "targets": [lock_file], "verbosity": 2}
    yield {"basename": "verify", "doc": f"check this machine's results against "
           f"{pipelock.LOCK_FILE}, one line per difference",
           "actions": [action(verify_lock, rt, fields)], "file_dep": records_of,
           "uptodate": [Always("a comparison with the committed lock")], "verbosity": 2}
    yield {"basename": REGISTRY_START, "doc": "start the local registry (push and pull steps "
           "do this when they must run)", "actions": [action(registry_start, rt)],
           "uptodate": [Check("the local registry runs", registry_running, rt)],
           "verbosity": 2}
    yield {"basename": REGISTRY_STOP, "doc": "stop the local registry this project started",
           "actions": [action(registry_stop, rt)],
           "uptodate": [Always("stopping is cheap and idempotent")], "verbosity": 2}
