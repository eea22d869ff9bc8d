"""Fixtures for the reliability tests: a real registry we can break, and project copies.

Reuses the integration fixtures (engine, copy_project, Project). Every test prints the
figure it measures on one line starting with "FIGURE", so `script/test -s -k reliability`
shows them; the assertions hold the figures to what the issue asks.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from clones import Project, copy_project, free_port


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


@pytest.fixture
def make_registry(tmp_path):
    made: list[Registry] = []

    def make(htpasswd: Path | None = None) -> Registry:
        registry = Registry(tmp_path / f"registry{len(made)}", free_port(), htpasswd)
        registry.root.mkdir()
        registry.start()
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.kill()


def clone(tmp_path: Path, registry: str, **env: str) -> Project:
    """A project copy using an external registry (started by the test, or none at all)."""
    root = copy_project(tmp_path / "ac295")
    tag = f"rel{os.getpid()}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    environ.update(AC295_REGISTRY=registry, AC295_REGISTRY_SERVICE="external",
                   AC295_HUB_USER=tag, AC295_LOCAL_PREFIX=f"{tag}-",
                   AC295_DEMO2_PORT=str(free_port()), **env)
    return Project(root, environ, registry, tag, f"{tag}-")
