"""One-shot containers: create, start, wait, collect output, check it, and always remove.

Why not ``containers.run(remove=True)``: it leaks the container when start fails and silently
tries to pull a missing image. Here the container is created from an image *id* (no pull), is
labelled with the task that made it, and is removed in ``finally``, also on Ctrl-C.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

import docker.errors
import requests
from docker.utils import parse_repository_tag

from .engine import CONTAINER_LIMITS, LABEL_INPUTS, LABEL_TASK, Engine
from .errors import CheckFailed, EngineError
from .model import CommitStep, RunStep

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    """What a one-shot container did."""

    exit_code: int
    stdout: str
    stderr: str


def sweep(engine: Engine, task: str, progress: Progress) -> None:
    """Remove containers this project copy made for ``task`` and that a killed run left behind.

    ``finally`` removes them normally; a SIGKILL skips it. Labels tell ours from others'.
    """
    labels = [f"{key}={value}" for key, value in engine.labels(task).items()]
    for container in engine.client.containers.list(all=True, filters={"label": labels}):
        container.remove(force=True)
        progress(f"removed container {container.short_id} left by an interrupted run")


def _wait(container: Any, task: str, timeout: int, what: str, who: str) -> dict[str, Any]:
    """Wait for a container; a timeout (docker-py raises requests' errors) is an EngineError."""
    try:
        return dict(container.wait(timeout=timeout))
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        raise EngineError(f"{task}: {what} within {timeout} s (raise 'timeout:' in the step if "
                          f"{who} longer).") from None


def run_once(step: RunStep, engine: Engine, image_id: str, progress: Progress,
             network_name: str | None = None) -> Outcome:
    """Run the step's command in a fresh container from ``image_id`` and return its outcome.

    Raises:
        EngineError: the container could not be created or did not finish within the timeout.
    """
    client = engine.client
    sweep(engine, step.task, progress)
    network = {"network": network_name} if network_name else {}
    try:
        container = client.containers.create(
            image_id, command=list(step.command) if step.command is not None else None,
            environment=dict(step.env), labels=engine.labels(step.task), detach=True,
            **network, **CONTAINER_LIMITS)
    except docker.errors.ImageNotFound:
        raise EngineError(f"{step.task}: the image {image_id[:19]} is gone from the engine; "
                          "rerun so that its build step makes it again.") from None
    try:
        container.start()
        status = _wait(container, step.task, step.timeout, "the container did not finish",
                       "it needs")
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    for line in stdout.splitlines():
        progress(line)
    return Outcome(exit_code=int(status.get("StatusCode", -1)), stdout=stdout, stderr=stderr)


def check(step: RunStep, outcome: Outcome) -> None:
    """Compare an outcome with the step's ``expect:``.

    Raises:
        CheckFailed: with every unmet expectation and the container's output.
    """
    problems = []
    if outcome.exit_code != step.expect.exit_code:
        problems.append(f"exit code {outcome.exit_code}, expected {step.expect.exit_code}")
    for stream, patterns in (("stdout", step.expect.stdout), ("stderr", step.expect.stderr)):
        text = getattr(outcome, stream)
        for pattern in patterns:
            if not re.search(pattern, text, re.MULTILINE):
                problems.append(f"{stream} does not match /{pattern}/")
    if problems:
        raise CheckFailed(
            f"{step.task}: the container's output is not as expected ({'; '.join(problems)}). "
            f"Fix the image or the step's 'expect:' in {step.where.file}.\n"
            f"--- stdout ---\n{outcome.stdout.rstrip()}\n--- stderr ---\n"
            f"{outcome.stderr.rstrip()}")


def commit(step: CommitStep, engine: Engine, source_id: str, digest: str,
           progress: Progress) -> str:
    """Run the step's commands in a container from ``source_id`` and commit it as its tag.

    The commands run under ``/bin/sh -c`` with ``set -e``; the committed image keeps the
    source's CMD and ENTRYPOINT (not the shell that ran the commands) and gets the step's
    labels. The container is removed in ``finally``.

    Raises:
        CheckFailed: a command failed; its output is in the message.
    """
    client = engine.client
    sweep(engine, step.task, progress)
    source = client.api.inspect_image(source_id)["Config"] or {}
    script = "set -e\n" + "\n".join(step.commands)
    kwargs: dict[str, Any] = {"command": ["/bin/sh", "-c", script]}
    if source.get("Entrypoint"):
        kwargs = {"entrypoint": ["/bin/sh", "-c"], "command": [script]}
    container = client.containers.create(source_id, labels=engine.labels(step.task),
                                         detach=True, **kwargs, **CONTAINER_LIMITS)
    try:
        container.start()
        status = _wait(container, step.task, step.timeout, "the commands did not finish",
                       "they need")
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        for line in output.splitlines():
            progress(line)
        if status.get("StatusCode") != 0:
            raise CheckFailed(f"{step.task}: a command failed (exit code "
                              f"{status.get('StatusCode')}); the image was not committed. Fix "
                              f"'commands:' in {step.where.file}.\n--- output ---\n"
                              f"{output.rstrip()}")
        repo, tag = parse_repository_tag(step.tag)
        changes = [f"CMD {json.dumps(source.get('Cmd') or [])}",
                   f"LABEL {LABEL_INPUTS}={digest}", f"LABEL {LABEL_TASK}={step.task}"]
        if source.get("Entrypoint"):
            changes.append(f"ENTRYPOINT {json.dumps(source['Entrypoint'])}")
        image = container.commit(repository=repo, tag=tag or "latest", changes=changes,
                                 message=f"ac295 {step.task}")
    finally:
        container.remove(force=True)
    info = engine.refresh(step.tag)
    progress(f"committed {step.tag} ({str(image.id)[:19]})")
    return info.id if info else str(image.id)
