"""One-shot containers and commits: create, start, wait, collect output, always remove.

Why not ``containers.run(remove=True)``: it leaks the container when start fails and silently
tries to pull a missing image. Here the container is created from an image *id* (no pull), is
labelled with the task that made it, and is removed in ``finally``, also on Ctrl-C.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from ..errors import CommandFailed, EngineError
from .boundary import translated
from .client import CONTAINER_LIMITS, Engine
from .options import ContainerOptions
from .evidence import Keep
from .shells import LABEL_SHELL
from .refs import repository_tag as parse_repository_tag
from ..progress import Progress


@dataclass(frozen=True)
class Outcome:
    """What a one-shot container did."""

    exit_code: int
    stdout: str
    stderr: str


@translated
def sweep(engine: Engine, labels: Mapping[str, str], progress: Progress) -> None:
    """Remove containers carrying all of ``labels``, left behind by a killed run.

    ``finally`` removes them normally; a SIGKILL skips it. Labels tell ours from others'.
    """
    wanted = [f"{key}={value}" for key, value in labels.items()]
    for container in engine.client.containers.list(all=True, filters={"label": wanted}):
        if LABEL_SHELL in (container.labels or {}):
            continue  # a person's `doit shell`, not a leftover
        container.remove(force=True)
        progress(f"removed container {container.short_id} left by an interrupted run")


def _logs(container: Any, stdout: bool = True, stderr: bool = True) -> str:
    return container.logs(stdout=stdout, stderr=stderr).decode("utf-8", "replace")


def _wait(container: Any, task: str, timeout: int, what: str, who: str) -> dict[str, Any]:
    """Wait for a container; a timeout is an EngineError that keeps what it printed."""
    import requests

    try:
        return dict(container.wait(timeout=timeout))
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        try:
            printed = _logs(container).rstrip()
        except Exception:  # noqa: BLE001 - the output is a courtesy; the timeout is the error
            printed = ""
        shown = "\n".join(printed.splitlines()[-20:])
        raise EngineError(f"{task}: {what} within {timeout} s (raise 'timeout:' in the step if "
                          f"{who} longer)." + (f"\n--- output so far ---\n{shown}"
                                               if shown else "")) from None


@contextlib.contextmanager
def _kept_on_timeout(engine: Engine, container: Any, keep: Keep | None,
                     progress: Progress) -> Iterator[None]:
    """A container that does not finish in time is the step's evidence too."""
    try:
        yield
    except EngineError:
        if keep is not None:
            keep.timeout(engine, container.id, progress)
        raise


@translated
def run_once(engine: Engine, image_id: str, command: Sequence[str] | None,
             env: Mapping[str, str], timeout: int, labels: Mapping[str, str], task: str,
             progress: Progress, network: str | None = None,
             options: ContainerOptions | None = None, keep: Keep | None = None) -> Outcome:
    """Run ``command`` in a fresh container from ``image_id`` and return its outcome.

    ``options``: an entrypoint, a working folder, a user, mounts (see ``options``).
    ``keep``: when the outcome is a failure (or the container timed out), the container is
    kept as the step's evidence (``tasks.engine.evidence``) before it is removed.

    Raises:
        EngineError: the container could not be created or did not finish within ``timeout``.
    """
    import docker.errors

    client = engine.client
    sweep(engine, labels, progress)
    on_network = {"network": network} if network else {}
    try:
        container = client.containers.create(
            image_id, command=list(command) if command is not None else None,
            environment=dict(env), labels=dict(labels), detach=True, **on_network,
            **(options.create_kwargs() if options else {}), **CONTAINER_LIMITS)
    except docker.errors.ImageNotFound:
        raise EngineError(f"{task}: the image {image_id[:19]} is gone from the engine; "
                          "rerun so that its build step makes it again.") from None
    shown = _Shown(progress)
    try:
        shown.follow(container)
        container.start()
        with _kept_on_timeout(engine, container, keep, progress):
            status = _wait(container, task, timeout, "the container did not finish",
                           "it needs")
        stdout = _logs(container, stderr=False)
        stderr = _logs(container, stdout=False)
        outcome = Outcome(int(status.get("StatusCode", -1)), stdout, stderr)
        if keep is not None:
            keep.outcome(engine, container.id, outcome, progress)
    finally:
        container.remove(force=True)
        shown.stop()
    for line in stdout.splitlines()[shown.count:]:  # what the stream did not show
        progress(line)
    return outcome


def docker_run(image: str, command: Sequence[str], network: str = "none",
               timeout: float | None = None) -> Outcome:
    """``docker run --rm --network NETWORK IMAGE COMMAND``, the Docker CLI as a user types it
    (what the ``compare`` exercise times as Docker's start-up: client, API, daemon, runc).

    Raises:
        EngineError: the CLI is missing, or the container did not finish within ``timeout``
            (it is removed then).
    """
    name = f"ac295-run-{uuid.uuid4().hex[:12]}"
    argv = ["docker", "run", "--rm", "--name", name, "--network", network, image, *command]
    try:
        found = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout)
    except FileNotFoundError:
        raise EngineError("the docker command is missing: run script/bootstrap (it installs "
                          "Debian's docker.io).") from None
    except BaseException as err:  # a timeout, Ctrl-C: the container outlives its client
        subprocess.run(["docker", "rm", "--force", name], stdin=subprocess.DEVNULL,
                       capture_output=True)
        if isinstance(err, subprocess.TimeoutExpired):
            raise EngineError(f"docker run {image} did not finish within {timeout:.0f} s; "
                              "its container was removed.") from None
        raise
    return Outcome(found.returncode, found.stdout.decode(errors="replace"),
                   found.stderr.decode(errors="replace"))


class _Shown:
    """A container's output lines shown as they come (attached before it starts), so that a
    check's answer is on the screen while the container still exits; the logs read after it
    ended stay what is checked and recorded, and what the stream missed is shown from them."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.count = 0
        self.thread: threading.Thread | None = None
        self.stopping = False

    def follow(self, container: Any) -> None:
        try:
            stream = container.attach(stdout=True, stderr=False, stream=True, logs=True)
            iter(stream)
        except Exception:  # noqa: BLE001 - showing early is a courtesy; the logs follow
            return
        self.thread = threading.Thread(target=self._show, args=(stream,), daemon=True)
        self.thread.start()

    def _show(self, stream: Any) -> None:
        pending = b""
        try:
            for chunk in stream:
                if self.stopping:
                    return
                pending += chunk if isinstance(chunk, bytes) else b""
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if self.stopping:
                        return
                    self.progress(line.decode("utf-8", "replace"))
                    self.count += 1
        except Exception:  # noqa: BLE001 - the stream broke: the logs show the rest
            return

    def stop(self) -> None:
        """Wait briefly for the stream's end (the container is gone), then stop showing."""
        if self.thread is not None:
            self.thread.join(timeout=2)
        self.stopping = True


@translated
def commit(engine: Engine, source_id: str, commands: Sequence[str], tag: str, timeout: int,
           labels: Mapping[str, str], image_labels: Mapping[str, str], task: str,
           fix: str, progress: Progress, keep: Keep | None = None) -> str:
    """Run ``commands`` in a container from ``source_id`` and commit it as ``tag``.

    The commands run under ``/bin/sh -c`` with ``set -e``; the committed image keeps the
    source's CMD and ENTRYPOINT (not the shell that ran the commands) and gets
    ``image_labels``. The container carries ``labels`` and is removed in ``finally``; with
    ``keep``, a container whose commands failed (or timed out) is kept as evidence first.

    Raises:
        CommandFailed: a command failed; its output and ``fix`` are in the message.
    """
    client = engine.client
    sweep(engine, labels, progress)
    source = client.api.inspect_image(source_id)["Config"] or {}
    script = "set -e\n" + "\n".join(commands)
    kwargs: dict[str, Any] = {"command": ["/bin/sh", "-c", script]}
    if source.get("Entrypoint"):
        kwargs = {"entrypoint": ["/bin/sh", "-c"], "command": [script]}
    container = client.containers.create(source_id, labels=dict(labels), detach=True, **kwargs,
                                         **CONTAINER_LIMITS)
    try:
        container.start()
        with _kept_on_timeout(engine, container, keep, progress):
            status = _wait(container, task, timeout, "the commands did not finish",
                           "they need")
        output = _logs(container)
        for line in output.splitlines():
            progress(line)
        if status.get("StatusCode") != 0:
            if keep is not None:
                keep.outcome(engine, container.id,
                             Outcome(int(status.get("StatusCode", -1)), output, ""), progress)
            raise CommandFailed(f"{task}: a command failed (exit code {status.get('StatusCode')})"
                                f"; the image was not committed. {fix}\n--- output ---\n"
                                f"{output.rstrip()}")
        repo, tag_name = parse_repository_tag(tag)
        changes = [f"CMD {json.dumps(source.get('Cmd') or [])}"]
        changes += [f'LABEL {key}="{value}"' for key, value in image_labels.items()]
        if source.get("Entrypoint"):
            changes.append(f"ENTRYPOINT {json.dumps(source['Entrypoint'])}")
        image = container.commit(repository=repo, tag=tag_name or "latest", changes=changes,
                                 message=f"ac295 {task}")
    finally:
        container.remove(force=True)
    info = engine.refresh(tag)
    progress(f"committed {tag} ({str(image.id)[:19]})")
    return info.id if info else str(image.id)
