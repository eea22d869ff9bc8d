"""Runs of `doit exercise2` killed at random moments, each followed by a normal run.

Figures: how many signals reached a run that was still working, how many runs converged to
the current inputs (records, engine and registry agree with each other and with the tree),
containers leaked, runs whose state was unreadable. The test command runs AC295_KILL_RUNS
runs (default 6); the full figure takes AC295_KILL_RUNS=30. Each run's case is a signal and a
moment, early or late in the run's work (the moment drawn within that half): every pair at
least once in any run of at least 6 (stratified, tests/seeds.py), in an order and at moments
drawn from the seed (printed; AC295_SEED replays it).
"""
from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import time
import uuid

import seeds
from clones import clone, leftovers
from tasks.engine import registry as registry_mod

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
#: When the signal comes, as a fraction of how long a run works: early or late.
MOMENTS = {"early": (0.05, 0.35), "late": (0.35, 0.7)}
CASES = list(itertools.product(SIGNALS, MOMENTS))


def _converged(project, engine) -> bool:
    """Records, engine and registry agree with one another and with the current tree.

    The oracle is the tree itself, not the project's code: the image the records name holds
    the Question.py that is on disk now (read back from a container of the tag the registry
    serves), the engine's tag names the recorded image, the registry serves the digest the
    engine has for that image, and the check ran on it.
    """
    image = project.local("exercise2:image") or {}
    push = project.local("exercise2:push") or {}
    ref = push.get("ref", "")
    if not ref:
        return False
    served = registry_mod.manifest_digest(registry_mod.Reference.parse(ref))
    pushed_image = engine.images.get(ref)
    repo_digests = [d.partition("@")[2] for d in pushed_image.attrs.get("RepoDigests") or []]
    inside = engine.containers.run(pushed_image.id, ["cat", "/app/Question.py"], remove=True)
    question = project.root / "exercises/exercise2/Question.py"
    return (inside == question.read_bytes()
            and pushed_image.id == image.get("image_id") == push.get("image_id")
            and served == push.get("digest") and served in repo_digests
            and project.record("exercise2:question") is not None)


def _start(project) -> subprocess.Popen:
    return subprocess.Popen([str(project.root / "script/doit"), "exercise2"], cwd=project.root,
                            env=project.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _working(project, proc: subprocess.Popen) -> float:
    """Wait until the run has work under way (the image step's action has begun: it removes
    the step's record first); the time that took. A start-up that the machine's load makes
    slow or fast then moves no signal out of the working window."""
    record = project.state / "records/exercise2/image.json"
    started = time.monotonic()
    while record.exists() and proc.poll() is None:
        time.sleep(0.02)
    return time.monotonic() - started


def _rebuild_seconds(project, question) -> float:
    """How long a run works once its image step has begun (build, run, push): the second of
    two timed runs, since the first may fill the builder's cache (the warm run can reuse an
    image another copy made, with no build) and take several times as long as the rest."""
    seconds = 0.0
    for _ in range(2):
        question.write_text(question.read_text() + f"\n# timing run {uuid.uuid4().hex}\n")
        proc = _start(project)
        _working(project, proc)
        started = time.monotonic()
        proc.wait(timeout=600)
        assert proc.returncode == 0
        seconds = time.monotonic() - started
    return seconds


def test_killed_runs_converge(tmp_path, make_registry, engine):
    runs = int(os.environ.get("AC295_KILL_RUNS", "6"))
    seed = seeds.seed("test_killed_runs_converge")
    rng = random.Random(seed)
    registry = make_registry()
    project = clone(tmp_path, registry.host)
    project.doit("exercise2")  # warm: base image and a first push
    question = project.root / "exercises/exercise2/Question.py"
    working = _rebuild_seconds(project, question)  # how long a run has work to do
    token = uuid.uuid4().hex
    converged = leaked = unreadable = in_time = 0
    failures = []
    cases = seeds.schedule(CASES, runs, rng)
    runs = len(cases)  # every case at least once
    for n, (sig, moment) in enumerate(cases):
        # an edit no earlier session made, so that the run builds (an image of the same
        # content made before would be reused, and the run over before any signal)
        question.write_text(question.read_text() + f"\n# kill run {n} {token}\n")
        proc = _start(project)
        _working(project, proc)
        time.sleep(rng.uniform(*MOMENTS[moment]) * working)
        if proc.poll() is None:  # the signal reaches a run that is still working
            in_time += 1
            if sig == signal.SIGINT:
                os.killpg(proc.pid, sig)  # Ctrl-C reaches the foreground group
            else:
                proc.send_signal(sig)  # `kill`, a CI timeout
        try:
            proc.wait(timeout=120)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        status = project.doit("list", "--status", "--all", check=False)
        if status.returncode != 0:
            unreadable += 1
        run = project.doit("exercise2", check=False)
        if run.returncode == 0 and _converged(project, engine):
            converged += 1
        else:
            failures.append(f"run {n} ({sig.name}, {moment}) did not converge")
        leaked += len(leftovers(engine, project))
    print(f"FIGURE kills (seed {seed}): {in_time} of {runs} signals reached a working run; "
          f"{converged} of {runs} converged to the current inputs, {leaked} containers "
          f"leaked, {unreadable} unreadable states")
    assert (converged, leaked, unreadable) == (runs, 0, 0), f"seed {seed}: {failures}"
    assert in_time >= runs * 2 // 3, "most signals must arrive while the run works"
