"""Fixtures for integration tests: a copy of the project on a real engine and registry.

Each test session copies the project into a temporary folder with its own state folder, its
own registry port and hub user, and runs the README's main command (``script/doit``) there.
Nothing is faked: the copy debootstraps its base image, builds, runs and pushes for real.
Teardown stops the copy's registry and removes the images and containers it made.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[2]
_IGNORE = shutil.ignore_patterns(".venv", ".ac295", ".git", "__pycache__", ".pytest_cache")


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
        return self.root / ".ac295"

    def registry_uploads(self) -> int:
        """Blob uploads the copy's registry has accepted, from its access log."""
        log = self.state / "registry" / "registry.log"
        if not log.exists():
            return 0
        return len(re.findall(r'"POST /v2/\S+/blobs/uploads/ HTTP', log.read_text()))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_project(dest: Path) -> Path:
    """Copy the working tree (not .venv, state or .git); share the repo's .venv by a link."""
    shutil.copytree(REPO, dest, ignore=_IGNORE, symlinks=True)
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


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    """The real engine; failing (not skipping) when none answers: script/test starts one."""
    try:
        client = docker.from_env()
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means: no engine
        pytest.fail(f"no Docker Engine answers ({err}); run script/bootstrap first")
    return client


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, engine: docker.DockerClient):
    """A project copy that has run nothing yet; cleaned up after the session."""
    root = copy_project(tmp_path_factory.mktemp("clone") / "ac295")
    port, demo2_port = _free_port(), _free_port()
    hub_user = f"t{os.getpid()}"
    prefix = f"{hub_user}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    env.update(AC295_REGISTRY=f"127.0.0.1:{port}", AC295_HUB_USER=hub_user,
               AC295_LOCAL_PREFIX=prefix, AC295_DEMO2_PORT=str(demo2_port))
    proj = Project(root, env, f"127.0.0.1:{port}", hub_user, prefix, demo2_port)
    yield proj
    proj.doit("registry_stop", check=False)
    for container in leftovers(engine, proj):
        container.remove(force=True)
    ours = [image for image in engine.images.list()
            if any(name.startswith((proj.registry + "/", prefix))
                   for name in image.tags + image.attrs.get("RepoDigests", []))]
    # children before parents: newest first
    for image in sorted(ours, key=lambda i: i.attrs.get("Created", ""), reverse=True):
        try:
            engine.images.remove(image.id, force=True)
        except docker.errors.APIError:  # still a parent of an image of someone else's
            pass
    for network in engine.networks.list():
        if network.name.startswith(prefix):
            network.remove()
