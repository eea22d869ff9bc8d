"""Runs of `doit exercise2` killed at random moments, each followed by a normal run.

Figures: how many converged (records, engine and registry agree), containers leaked, runs
whose state was unreadable. The README's test command runs AC295_KILL_RUNS runs (default 6,
two per signal); the full figure takes AC295_KILL_RUNS=30.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

from clones import leftovers

from .conftest import clone
from tasks.engine import registry as registry_mod

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]


def _converged(project, engine) -> bool:
    records = project.state / "records/exercise2"
    image = json.loads((records / "image.json").read_text())
    question = json.loads((records / "question.json").read_text())
    push = json.loads((records / "push.json").read_text())
    ref = push["ref"]
    served = registry_mod.manifest_digest(registry_mod.Reference.parse(ref))
    return (engine.images.get(ref).id == image["image_id"] == question["image_id"]
            == push["image_id"] and served == push["digest"])


def test_killed_runs_converge(tmp_path, make_registry, engine):
    runs = int(os.environ.get("AC295_KILL_RUNS", "6"))
    seed = int(os.environ.get("AC295_KILL_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    registry = make_registry()
    project = clone(tmp_path, registry.host)
    project.doit("exercise2")  # warm: base image and a first push
    question = project.root / "exercises/exercise2/Question.py"
    converged = leaked = unreadable = 0
    for n in range(runs):
        sig = SIGNALS[n % len(SIGNALS)]
        question.write_text(question.read_text() + f"\n# kill run {n}\n")
        proc = subprocess.Popen([str(project.root / "script/doit"), "exercise2"],
                                cwd=project.root, env=project.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.3, 4.0))
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
        leaked += len(leftovers(engine, project))
    print(f"FIGURE kills (seed {seed}): {converged} of {runs} converged, {leaked} containers "
          f"leaked, {unreadable} unreadable states")
    assert (converged, leaked, unreadable) == (runs, 0, 0)
