"""Copies of the project on the real engine and registry, for integration and reliability tests.

A copy lives in a temporary folder with its own state folder, registry port, hub user and name
prefix, and runs the README's main command (``script/doit``) there. Nothing is faked.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    """One `script/doit` invocation: exit code, output, and which tasks ran or were skipped."""

    returncode: int
    stdout: str
    stderr: str
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Project:
    """A copy of the project with its own state, registry port and hub user."""

    root: Path
    env: dict[str, str]
    registry: str
    hub_user: str
    prefix: str = ""
    demo2_port: int = 8082
    state_dir: str = ".ac295"

    def doit(self, *args: str, check: bool = True, timeout: float = 900) -> Run:
        proc = subprocess.run([str(self.root / "script/doit"), *args], cwd=self.root,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        run = Run(proc.returncode, proc.stdout, proc.stderr,
                  executed=re.findall(r"^\.  (\S+)$", proc.stdout, re.M),
                  skipped=re.findall(r"^-- (\S+)$", proc.stdout, re.M))
        if check and proc.returncode != 0:
            raise AssertionError(f"script/doit {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return run

    @property
    def state(self) -> Path:
        return self.root / self.state_dir

    def record(self, task: str) -> dict | None:
        """A step's record (its facts by content), or None if it has none."""
        exercise, step = task.split(":")
        path = self.state / "records" / exercise / f"{step}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def local(self, task: str) -> dict | None:
        """A step's local facts (engine ids, this registry's digests), or None."""
        exercise, step = task.split(":")
        path = self.state / "local" / exercise / f"{step}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def forget(self, *tasks: str) -> None:
        """Remove the steps' records and notes, so that the next run makes them again: a test
        that needs a first run gets one whatever earlier tests of the session ran."""
        for task in tasks:
            exercise, step = task.split(":")
            for kind in ("records", "local"):
                (self.state / kind / exercise / f"{step}.json").unlink(missing_ok=True)

    def registry_uploads(self) -> int:
        """Blob uploads the copy's registry has accepted, from its access log."""
        log = self.state / "registry" / "registry.log"
        if not log.exists():
            return 0
        return len(re.findall(r'"POST /v2/\S+/blobs/uploads/ HTTP', log.read_text()))


#: The registries this test session started or named (host:port): an image tag under one of
#: them, or holding this process's id (the copies' hub users and prefixes do), is this
#: session's; the engine sweep removes only those (tests/conftest.py).
SESSION_REGISTRIES: set[str] = set()


def session_name(tag: str) -> bool:
    """True if an image tag is one this test session made."""
    return str(os.getpid()) in tag or any(tag.startswith(r + "/") for r in SESSION_REGISTRIES)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tracked_files() -> list[str]:
    """The files git tracks in the repository, and new ones it would track (not ignored):
    the project as a fresh clone has it, with the edits of the working tree. Whatever a run
    made (state, caches, a wheelhouse) is never among them."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPO, capture_output=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise AssertionError(f"cannot list the files git tracks in {REPO} ({err}): the tests "
                             "copy the project as git has it; run them in a git checkout.")
    return sorted({name for name in out.decode().split("\0")
                   if name and os.path.lexists(REPO / name)})


def copy_project(dest: Path) -> Path:
    """Copy what git tracks (``tracked_files``), modes and links kept; share the repo's .venv
    by a link."""
    for name in tracked_files():
        src, target = REPO / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)
    (dest / ".venv").symlink_to(REPO / ".venv")
    return dest


def leftovers(engine: docker.DockerClient, proj: Project, task: str | None = None) -> list:
    """Containers this project copy made (for ``task``, or any) that still exist."""
    label = f"org.ac295.project={proj.state.resolve()}"
    found = engine.containers.list(all=True, filters={"label": label})
    return [c for c in found if task is None or c.labels.get("org.ac295.task") == task]


def networks_left(engine: docker.DockerClient, proj: Project) -> list:
    """Networks this project copy made that still exist."""
    label = f"org.ac295.project={proj.state.resolve()}"
    return engine.networks.list(filters={"label": label})


def volumes_left(engine: docker.DockerClient, proj: Project) -> list:
    """Named volumes this project copy made that still exist."""
    label = f"org.ac295.project={proj.state.resolve()}"
    return engine.volumes.list(filters={"label": label})


@dataclass
class Registry:
    """A docker-registry process on 127.0.0.1 that the test starts, stops and restarts."""

    root: Path
    port: int
    htpasswd: Path | None = None
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def start(self) -> None:
        SESSION_REGISTRIES.add(self.host)
        config: dict = {"version": 0.1, "log": {"level": "info"},
                        "storage": {"filesystem": {"rootdirectory": str(self.root / "data")},
                                    "delete": {"enabled": True}},
                        "http": {"addr": self.host}}
        if self.htpasswd is not None:
            config["auth"] = {"htpasswd": {"realm": "ac295", "path": str(self.htpasswd)}}
        (self.root / "config.yml").write_text(yaml.safe_dump(config))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([shutil.which("docker-registry") or "docker-registry",
                                          "serve", str(self.root / "config.yml")],
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://{self.host}/v2/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError("registry did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def clone(tmp_path: Path, registry: str, name: str = "ac295", **env: str) -> Project:
    """A project copy using an external registry (started by the test, or none at all)."""
    root = copy_project(tmp_path / name)
    tag = f"rel{os.getpid()}{name if name != 'ac295' else ''}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    SESSION_REGISTRIES.add(registry)
    environ.update(AC295_REGISTRY=registry, AC295_REGISTRY_SERVICE="external",
                   AC295_HUB_USER=tag, AC295_LOCAL_PREFIX=f"{tag}-",
                   AC295_DEMO2_PORT=str(free_port()), AC295_COMPOSE_PORT=str(free_port()),
                   AC295_COMPARE_REPS="1",  # a whole-graph run measures each cell once,
                   AC295_COMPARE_SIZE="small")  # with the benchmarks at their small sizes
    environ.update(env)
    return Project(root, environ, registry, tag, f"{tag}-",
                   state_dir=env.get("AC295_STATE_DIR", ".ac295"))
