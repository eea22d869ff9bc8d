"""What container steps gained for compose, written by hand: entrypoint, working_dir, user,
volumes (volume steps and read-only binds) and a service's healthcheck; and what the engine
is asked for (the SDK's keyword arguments, written out here by hand)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from docker.types import Mount as SdkMount

from helpers import compile_project, load, spec_error, unwrap, write_project
from tasks.engine.options import ContainerOptions, Health, Mount
from tasks.engine.services import Probe
from tasks.kinds.container import Use

BASE = """\
doc: d
steps:
  img: {build: ., tag: "me/img:1"}
  net: {network: hello}
  data: {volume: "p-data"}
"""


def project(tmp_path: Path, steps: str) -> Path:
    return write_project(tmp_path, {
        "exercises/ex/Dockerfile": "FROM scratch\n",
        "exercises/ex/seed/a.txt": "a\n",
        "exercises/ex/exercise.yml": BASE + textwrap.indent(textwrap.dedent(steps), "  ")})


def test_a_hand_written_service_with_every_new_key(tmp_path):
    root = project(tmp_path, """\
        db:
          run: img
          detach: true
          network: net
          entrypoint: python3 -u
          command: [db.py]
          working_dir: /app
          user: "65534:65534"
          volumes: ["data:/var/lib/db", "./seed:/seed", "data:/backup:ro"]
          healthcheck: {test: "curl -f localhost", interval: 2, retries: 5}
        """)
    db = load(root)["ex"].steps["db"]
    folder = (tmp_path / "exercises/ex").resolve()
    assert db.entrypoint == ("python3", "-u") and db.working_dir == "/app"
    assert db.user == "65534:65534"
    assert db.volumes == (Use(target="/var/lib/db", volume="data"),
                          Use(target="/seed", path=folder / "seed", read_only=True),
                          Use(target="/backup", volume="data", read_only=True))
    assert db.healthcheck == Health(test=("CMD-SHELL", "curl -f localhost"), interval=2,
                                    timeout=5, retries=5, start_period=0)
    assert db.ready == Probe(timeout=int(0 + 6 * (2 + 5)) + 10, healthy=True)


def test_what_the_engine_is_asked_for(tmp_path):
    root = project(tmp_path, """\
        db:
          run: img
          detach: true
          network: net
          entrypoint: [python3, -u]
          working_dir: /app
          user: nobody
          volumes: ["data:/var/lib/db", "./seed:/seed:ro"]
          healthcheck: {test: [python3, /app/health.py], interval: 1, timeout: 2, retries: 3,
                        start_period: 4}
        """)
    tasks, exercises, rt = compile_project(root)
    (_, args), = [unwrap(a) for a in tasks["ex:db"]["actions"]]
    options = args[-1]
    seed = str((tmp_path / "exercises/ex/seed").resolve())
    assert options == ContainerOptions(
        entrypoint=("python3", "-u"), working_dir="/app", user="nobody",
        mounts=(Mount("p-data", "/var/lib/db"), Mount(seed, "/seed", read_only=True, bind=True)),
        health=Health(test=("CMD", "python3", "/app/health.py"), interval=1, timeout=2,
                      retries=3, start_period=4))
    assert options.create_kwargs() == {
        "entrypoint": ["python3", "-u"], "working_dir": "/app", "user": "nobody",
        "mounts": [SdkMount("/var/lib/db", "p-data", type="volume", read_only=False),
                   SdkMount("/seed", seed, type="bind", read_only=True)],
        "healthcheck": {"test": ["CMD", "python3", "/app/health.py"],
                        "interval": 1_000_000_000, "timeout": 2_000_000_000, "retries": 3,
                        "start_period": 4_000_000_000}}
    assert set(tasks["ex:db"]["task_dep"]) == {"ex:net", "ex:data"}


def test_no_options_ask_for_nothing():
    assert ContainerOptions().create_kwargs() == {}
    assert not ContainerOptions() and ContainerOptions(user="x")


def test_one_shot_runs_take_the_keys_too(tmp_path):
    root = project(tmp_path, """\
        write: {run: img, volumes: ["data:/data"], user: "1000", working_dir: /data,
                command: "sh -c 'echo hi > hi.txt'"}
        read: {run: img, volumes: ["./seed:/seed:ro"], command: cat /seed/a.txt}
        plain: {run: img, command: "true"}
        """)
    tasks, exercises, _ = compile_project(root)
    ex = exercises[0]
    assert ex.steps["write"].volumes == (Use(target="/data", volume="data"),)
    assert "ex:data" in tasks["ex:write"]["task_dep"]
    # a volume lives for one run, and bound files are read as they are: both run every time
    assert "volume" in repr(tasks["ex:write"]["uptodate"][0])
    assert "files of the exercise" in repr(tasks["ex:read"]["uptodate"][0])
    assert tasks["ex:plain"]["targets"]  # unchanged: a record, up to date by its config


@pytest.mark.parametrize("step, key, words", [
    ("{run: img, detach: true, volumes: ['nothing:/data']}", "volumes", "no step 'nothing'"),
    ("{run: img, detach: true, volumes: ['net:/data']}", "volumes", "makes no named volume"),
    ("{run: img, detach: true, volumes: ['data:relative']}", "volumes", "not an absolute path"),
    ("{run: img, detach: true, volumes: ['data']}", "volumes", "SOURCE:TARGET"),
    ("{run: img, detach: true, volumes: ['data:/a:rx']}", "volumes", "SOURCE:TARGET"),
    ("{run: img, detach: true, volumes: ['./seed:/seed:rw']}", "volumes", "read-only"),
    ("{run: img, detach: true, volumes: ['../../..:/up']}", "volumes",
     "outside the exercise folder"),
    ("{run: img, detach: true, volumes: ['./nothing:/x']}", "volumes", "nothing to mount"),
    ("{run: img, detach: true, volumes: ['data:/a', 'data:/a']}", "volumes", "at one place"),
    ("{run: img, detach: true, working_dir: app}", "working_dir", "not an absolute path"),
    ("{run: img, detach: true, healthcheck: {interval: 1}}", "healthcheck", "needs a 'test'"),
    ("{run: img, detach: true, healthcheck: {test: x, retries: 0}}", "healthcheck.retries",
     "positive"),
    ("{run: img, detach: true, healthcheck: {test: x, timeout: 0}}", "healthcheck.timeout",
     "positive"),
    ("{run: img, detach: true, healthcheck: {test: x, bogus: 1}}", "healthcheck.bogus",
     "unknown key"),
    ("{run: img, detach: true, ready: {timeout: 5}}", "ready", "needs 'log' or 'http'"),
    ("{run: img, healthcheck: {test: x}}", "healthcheck", "only for services"),
    ("{run: file, runtime: rootless, user: nobody}", "user", "rootless run has no 'user'"),
])
def test_mistakes_are_reported_at_their_key(tmp_path, step, key, words):
    root = project(tmp_path, f"file: {{save: img}}\nbad: {step}\n")
    error = spec_error(root)
    assert words in str(error), str(error)
    assert error.where.key == f"steps.bad.{key}", error.where


def test_ready_with_only_a_timeout_is_fine_with_a_healthcheck(tmp_path):
    root = project(tmp_path, "db: {run: img, detach: true, healthcheck: {test: x}, "
                   "ready: {timeout: 7}}\n")
    assert load(root)["ex"].steps["db"].ready == Probe(timeout=7, healthy=True)
