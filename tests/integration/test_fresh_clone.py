"""Incremental rebuilds in CI: a clone with no records and no doit database skips what the
engine and the registry already hold. Counted from the engine's events and the registry's
log, not assumed.

Two fresh copies of the project share one engine and one registry (run outside both, as a
CI service would be: ``registry_service: external``). The first builds and pushes; the
second's first run must build nothing, import nothing and upload no blob.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from clones import Project, copy_project, free_port


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory):
    """A CNCF registry on 127.0.0.1 that neither clone runs; stopped after the module."""
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")},
                    "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"}}))
    log = root / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([shutil.which("docker-registry") or "docker-registry", "serve",
                                 str(config)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the shared registry did not start")
    yield port, log
    proc.terminate()
    proc.wait(timeout=10)


def _clone(tmp_path: Path, name: str, port: int) -> Project:
    root = copy_project(tmp_path / name)
    tag = f"fc{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AC295_")}
    env.update(AC295_REGISTRY=f"127.0.0.1:{port}", AC295_REGISTRY_SERVICE="external",
               AC295_HUB_USER=tag, AC295_LOCAL_PREFIX=f"{tag}-",
               AC295_DEMO2_PORT=str(free_port()))
    return Project(root, env, f"127.0.0.1:{port}", tag, f"{tag}-")


def _uploads(log: Path) -> int:
    return len(re.findall(r'"POST /v2/\S+/blobs/uploads/ HTTP', log.read_text()))


def _image_ids(project: Project) -> dict[str, str]:
    found = {}
    for task in ("base:image", "exercise2:image"):
        local = project.local(task)
        assert local is not None
        found[task] = local["image_id"]
    return found


def test_second_clone_builds_nothing_and_pushes_no_blob(tmp_path, engine, shared_registry):
    port, log = shared_registry
    first, second = _clone(tmp_path, "a", port), _clone(tmp_path, "b", port)
    try:
        run = first.doit("exercise2", "base:push")
        assert {"exercise2:image", "exercise2:push", "base:push"} <= set(run.executed)
        assert _uploads(log) > 0
        uploads = _uploads(log)
        since = int(time.time()) - 1
        run = second.doit("exercise2", "base:push")
        until = int(time.time()) + 1
        assert "Successfully built" not in run.stdout and "rootfs written" not in run.stdout
        events = list(engine.events(since=since, until=until, decode=True))
        label = f"org.ac295.project={second.state.resolve()}"
        # build and import work shows as containers that are not ours (a build's
        # intermediate ones) and as image imports; our own one-shot runs carry our label
        builds = [e for e in events if e.get("Type") == "container" and e.get("Action") == "create"
                  and "org.ac295.project" not in e.get("Actor", {}).get("Attributes", {})]
        imports = [e for e in events if e.get("Type") == "image" and e.get("Action") == "import"]
        commits = [e for e in events if e.get("Action") == "commit"]
        assert (builds, imports, commits) == ([], [], [])
        ours = [e for e in events if e.get("Type") == "container" and e.get("Action") == "create"
                and label in ",".join(f"{k}={v}" for k, v in
                                      e.get("Actor", {}).get("Attributes", {}).items())]
        assert ours, "the events were read: the second clone's own check container is there"
        assert _uploads(log) == uploads
        assert _image_ids(second) == _image_ids(first)
    finally:
        for project in (first, second):
            subprocess.run(["rm", "-rf", str(project.root)], check=False)
