"""The project's own top-level tasks: the local registry service, ``ac295.lock``, pruning.

``registry_start`` / ``registry_stop`` run the loopback registry (pushes and pulls set up the
start only when they must run); ``lock`` writes ``ac295.lock`` from this machine's records and
``verify`` compares them with it.
"""
from __future__ import annotations

from typing import Any, Iterator

from .engine import garbage as garbage_mod
from .errors import ArchiveMoved, LockError
from .graph import edges, pipelock
from .kinds import records
from .kinds.actions import Always, Check, Verdict, action, fresh, stale
from .progress import progress
from .kinds.base import KindTable
from .names import LOCK, PRUNE, REGISTRY_START, REGISTRY_STOP, VERIFY
from .kinds.runtime import Runtime
from .dsl.model import Exercise, Step


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


def prune(rt: Runtime, kinds: KindTable, exercises: list[Exercise], dry_run: bool = False,
          keep: int = 2) -> None:
    """Remove what this copy made and no longer needs (``--dry-run``: only list it)."""
    notes = [records.read(p) or {} for p in (rt.config.state / "local").glob("*/*.json")]
    needed_ids = {str(n["image_id"]) for n in notes if n.get("image_id")}
    needed_inputs = {str(n["inputs_digest"]) for n in notes if n.get("inputs_digest")}
    try:
        locked = pipelock.read(rt.config.root / pipelock.LOCK_FILE)
    except LockError:
        locked = {}
    needed_inputs |= {str(f["inputs_digest"]) for f in locked.values() if f.get("inputs_digest")}
    garbage = (garbage_mod.unused_images(rt.engine, needed_inputs, needed_ids, keep)
               + garbage_mod.leftover_containers(rt.engine)
               + garbage_mod.stale_networks(rt.engine)
               + garbage_mod.stale_volumes(rt.engine)
               + garbage_mod.kept_evidence(rt.engine))
    total = garbage_mod.human(sum(g.size for g in garbage))
    if dry_run:
        for item in garbage:
            progress(f"would remove {item.describe()}")
        progress(f"{len(garbage)} thing(s) to remove, {total} of images (keeping the {keep} "
                 "newest unused image(s) of each step); run without --dry-run to remove them")
        return
    freed = garbage_mod.remove(rt.engine, garbage, progress)
    progress(f"{len(garbage)} thing(s) removed, {garbage_mod.human(freed)} of images")


PRUNE_PARAMS = [
    {"name": "dry_run", "long": "dry-run", "type": bool, "default": False,
     "help": "list what would be removed, with sizes, and remove nothing"},
    {"name": "keep", "long": "keep", "type": int, "default": 2,
     "help": "unused images kept per step, newest first, so that a revert is instant"},
]


def registry_running(rt: Runtime) -> Verdict:
    """Fresh if the local registry runs (or the registry is not ours to start)."""
    local = rt.local_registry
    if local is None:  # a foreign one: the action says so
        return fresh(f"the registry {rt.config.registry} is not this project's to start")
    if local.running():
        return fresh("the local registry runs")
    return stale("the local registry is not running")


def current(rt: Runtime, kinds: KindTable, steps: list[Step]) -> pipelock.Facts:
    """This machine's facts, by task, as each step's kind puts them in the lock."""
    found: pipelock.Facts = {}
    for step in steps:
        path = rt.record_path(step.task)
        facts = kinds.of(step).lock_facts(step, records.read(path),
                                          records.read(records.local_of(path)) or {})
        if facts is not None:
            found[step.task] = facts
    return found


def write_lock(rt: Runtime, kinds: KindTable, steps: list[Step]) -> None:
    """Write ac295.lock from this machine's records."""
    facts = current(rt, kinds, steps)
    pipelock.write(rt.config.root / pipelock.LOCK_FILE, facts)
    progress(f"{pipelock.LOCK_FILE}: {len(facts)} step(s) locked")


def verify_lock(rt: Runtime, kinds: KindTable, steps: list[Step],
                exercises: list[Exercise]) -> None:
    """Compare this machine's results with ac295.lock, one line per difference.

    A difference is put down to Debian's archive when the step, or one it depends on
    (``edges.upstream``, computed here: only `verify` needs it), is an archive fetch.

    Raises:
        LockError: the project's own differences (doit exits 1).
        ArchiveMoved: every difference follows from Debian's archive (doit exits 2).
    """
    path = rt.config.root / pipelock.LOCK_FILE
    upstream = edges.upstream(exercises, kinds, rt.config.state)
    verdict = pipelock.explain(pipelock.read(path), current(rt, kinds, steps), upstream)
    if verdict.lines:
        text = (f"{len(verdict.lines)} difference(s) from {path.name}"
                + (" (all from Debian's archive having moved since the lock was written; "
                   "accept them with `doit lock`)" if verdict.archive_only else
                   " (accept this machine's results with `doit lock`)")
                + ":\n" + "\n".join(verdict.lines))
        raise (ArchiveMoved if verdict.archive_only else LockError)(text)
    progress(f"{len(steps)} step(s) match {path.name}")


def locked_steps(kinds: KindTable, exercises: list[Exercise]) -> list[Step]:
    """The steps the lock covers: those whose kind keeps facts in it."""
    return [s for e in exercises for s in e.steps.values()
            if kinds.of(s).locks(s)]


def project_tasks(rt: Runtime, kinds: KindTable, exercises: list[Exercise]
                  ) -> Iterator[dict[str, Any]]:
    """The top-level tasks: lock, verify, registry_start, registry_stop."""
    steps = locked_steps(kinds, exercises)
    lock_file = str(rt.config.root / pipelock.LOCK_FILE)
    deps = [str(p) for s in steps for p in kinds.of(s).outputs(s, rt.record_path(s.task))]
    yield {"basename": LOCK, "doc": f"write {pipelock.LOCK_FILE}: every exercise's results "
           "by content (env locks, image digests, package manifest, check outputs), to commit",
           "actions": [action(write_lock, rt, kinds, steps)], "file_dep": deps,
           "targets": [lock_file], "verbosity": 2}
    yield {"basename": VERIFY, "doc": f"check this machine's results against "
           f"{pipelock.LOCK_FILE}, one line per difference",
           "actions": [action(verify_lock, rt, kinds, steps, exercises)], "file_dep": deps,
           "uptodate": [Always("a comparison with the committed lock")], "verbosity": 2}
    yield {"basename": PRUNE, "doc": "remove what this copy made and no longer needs: old "
           "images (the 2 newest unused per step are kept; --keep N), stopped containers, "
           "stale networks, the states failed steps kept (--dry-run lists them)",
           "params": PRUNE_PARAMS, "actions": [action(prune, rt, kinds, exercises)],
           "uptodate": [Always("it asks the engine what is there now")], "verbosity": 2}
    yield {"basename": REGISTRY_START, "doc": "start the local registry (push and pull steps "
           "do this when they must run)", "actions": [action(registry_start, rt)],
           "uptodate": [Check("the local registry runs", registry_running, rt)],
           "verbosity": 2}
    yield {"basename": REGISTRY_STOP, "doc": "stop the local registry this project started",
           "actions": [action(registry_stop, rt)],
           "uptodate": [Always("stopping is cheap and idempotent")], "verbosity": 2}
