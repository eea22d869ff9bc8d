"""Rootless, daemonless runs from one file: podman as an unprivileged user, no dockerd."""
from __future__ import annotations

import time
from pathlib import Path

import docker

from tasks.engine import rootless


def test_the_rootless_exercise_answers_as_a_uid_other_than_0(project, engine: docker.DockerClient):
    project.doit("rootless:file")
    project.forget("rootless:question")  # a first run, whatever ran before in this session
    archive = project.state / "archives/rootless/file.tar"
    image_id = rootless.archive_image_id(archive)
    since = int(time.time()) - 1
    run = project.doit("rootless")
    until = int(time.time()) + 1
    assert "rootless:question" in run.executed
    record = project.record("rootless:question")
    assert record is not None and "Answer: 2640" in record["stdout"]
    assert "uid 0 inside is an unprivileged uid outside" in record["stdout"]
    assert project.local("rootless:question")["host_uid"] != 0
    # no dockerd involved: the engine made no container of that image while the step ran
    events = engine.api.events(since=since, until=until, decode=True,
                               filters={"type": "container", "event": "create"})
    assert [e for e in events if e.get("from") == image_id or
            e.get("Actor", {}).get("Attributes", {}).get("image") == image_id] == []
    assert project.doit("rootless").executed == []


def test_a_run_needs_no_engine_at_all(project, monkeypatch):
    """The runner never asks the engine: with DOCKER_HOST pointing nowhere it still runs."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    image_id = rootless.load(Path(project.state / "archives/rootless/file.tar"))
    found = rootless.run(image_id, ["sh", "-c", "id -u; head -n 1 /proc/self/uid_map"], {}, 60)
    inside, mapping = found.stdout.strip().splitlines()
    assert (found.exit_code, inside) == (0, "0")  # root inside the namespace ...
    assert mapping.split()[:2] == ["0", str(found.host_uid)] and found.host_uid != 0  # ... not
    # outside: uid 0 is the runner's own uid


def test_a_rootless_timeout_is_an_error_that_leaves_nothing(project):
    image_id = rootless.load(Path(project.state / "archives/rootless/file.tar"))
    try:
        rootless.run(image_id, ["sleep", "30"], {}, 2)
    except rootless.RootlessError as err:
        assert "did not finish within 2 s" in str(err)
    else:
        raise AssertionError("no timeout")
    left = rootless.podman(rootless.USER, ["ps", "-a", "-q"])
    assert left.stdout.strip() == ""
