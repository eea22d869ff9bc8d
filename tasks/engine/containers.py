"""One-shot containers and commits: create, start, wait, collect output, always remove.

Why not ``containers.run(remove=True)``: it leaks the container when start fails and silently
tries to pull a missing image. Here the container is created from an image *id* (no pull), is
labelled with the task that made it, and is removed in ``finally``, also on Ctrl-C.

A one-shot container runs code the project did not write (a student's image, in a grade), so
it is isolated by default (``Isolation``): no network, no capabilities, no new privileges, a
read-only root with a small ``/tmp``, bounded memory, processes and CPU, and a bounded output:
each stream is read as it comes (attached before the start, its lines shown as they come), kept
up to a cap, and the container is killed when it prints more (the rest is never held in
memory; the engine's log file of it is bounded too).
"""
from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..errors import CommandFailed, EngineError, RunLimit
from .boundary import translated
from .client import CONTAINER_LIMITS, LABEL_SHELL, Engine
from .options import ContainerOptions
from .evidence import Keep
from .refs import repository_tag as parse_repository_tag
from ..progress import Progress


@dataclass(frozen=True)
class Outcome:
    """What a one-shot container did."""

    exit_code: int
    stdout: str
    stderr: str


MB = 1 << 20


@dataclass(frozen=True)
class Isolation:
    """What a one-shot container may reach and use. The defaults give it nothing but its
    image, a small ``/tmp`` and bounded resources; a step asks for more by its keys
    (``network:``, ``user:``, ``writable:``; docs/writing-exercises.md).

    Args:
        network: a network made for the step to join; None: no network at all (only ``lo``).
        user: ``uid`` or ``uid:gid`` to run as; "": the image's own user.
        writable: a writable root file system (default: read-only, and ``/tmp`` a tmpfs).
        cpus: CPUs it may use.
        memory: bytes of memory (its ``/tmp`` included, a tmpfs counts as memory).
        pids: processes and threads it may have at once.
        tmp: bytes of its ``/tmp``.
        output: bytes each of stdout and stderr may hold; more is "output too large".
        lines: lines each may hold; more is "output too large" too (a Swarm job's output is
            read back line by line: a bound on lines bounds that reading).
    """

    network: str | None = None
    user: str = ""
    writable: bool = False
    cpus: float = 1.0
    memory: int = 2048 * MB
    pids: int = 256
    tmp: int = 64 * MB
    output: int = 1 * MB
    lines: int = 20_000

    def create_options(self) -> dict[str, Any]:
        """The engine's options for such a container (``containers.create`` keywords)."""
        options: dict[str, Any] = {
            "privileged": False, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"],
            "mem_limit": self.memory, "memswap_limit": self.memory,
            "nano_cpus": int(self.cpus * 1e9), "pids_limit": self.pids,
            "read_only": not self.writable,
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={self.tmp},mode=1777"},
            # the engine keeps what a container prints in a file: at most 2 x 16 MB of it
            "log_config": {"type": "json-file", "config": {"max-size": "16m",
                                                           "max-file": "2"}}}
        if self.network:
            options["network"] = self.network
        else:
            options["network_mode"] = "none"
        if self.user:
            options["user"] = self.user
        return options


    def too_large(self, stream: str, size: int, lines: int) -> str:
        """"" while ``size`` bytes and ``lines`` lines fit on ``stream``, else the reason."""
        if size > self.output:
            return f"output too large: more than {_size(self.output)} on {stream}"
        if lines > self.lines:
            return f"output too large: more than {self.lines} lines on {stream}"
        return ""


def _size(n: int) -> str:
    return f"{n // MB} MB" if n % MB == 0 else f"{n} bytes"


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


def _wait(container: Any, task: str, timeout: int, what: str, who: str,
          printed: Callable[[], str] | None = None) -> dict[str, Any]:
    """Wait for a container; a timeout is a ``RunLimit`` that keeps the end of what it
    printed (``printed``: what was captured so far; default: the container's logs)."""
    import requests

    try:
        return dict(container.wait(timeout=timeout))
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        try:
            so_far = (printed or (lambda: _logs(container)))().rstrip()
        except Exception:  # noqa: BLE001 - the output is a courtesy; the timeout is the error
            so_far = ""
        shown = "\n".join(so_far.splitlines()[-20:])
        raise RunLimit(f"{task}: {what} within {timeout} s (raise 'timeout:' in the step if "
                       f"{who} longer)." + (f"\n--- output so far ---\n{shown}"
                                            if shown else ""),
                       f"timed out: still running after {timeout} s") from None


def _kill(container: Any) -> None:
    """Kill a container that may have stopped already."""
    import docker.errors

    try:
        container.kill()
    except docker.errors.APIError:  # not running (any more)
        pass


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


def _not_started(task: str, command: Sequence[str] | None, err: Exception) -> EngineError:
    """Why a created container did not start, in the step's words: runc's "executable file
    not found" means the command names a program the image does not have."""
    text = str(getattr(err, "explanation", "") or err)
    missing = re.search(r'exec: "([^"]*)": (?:executable file not found|no such file)', text)
    given = "the step's 'command:'" if command is not None else "the image's CMD or ENTRYPOINT"
    if missing:
        return EngineError(f"{task}: the image has no program '{missing[1]}', which "
                           f"{given} runs. Fix {given}, or install the program in the image.")
    if "no command specified" in text:
        return EngineError(f"{task}: the image has no command (no CMD or ENTRYPOINT) and the "
                           "step gives none. Add 'command:' to the step.")
    return EngineError(f"{task}: the Docker Engine could not start the container: {text}")


@translated
def run_once(engine: Engine, image_id: str, command: Sequence[str] | None,
             env: Mapping[str, str], timeout: int, labels: Mapping[str, str], task: str,
             progress: Progress, isolation: Isolation = Isolation(),
             options: ContainerOptions | None = None, keep: Keep | None = None) -> Outcome:
    """Run ``command`` in a fresh container from ``image_id``, isolated as ``isolation``
    says, and return its outcome; its stdout's lines are shown as they come.

    ``options``: an entrypoint, a working folder, a user, mounts (see ``options``).
    ``keep``: when the outcome is a failure (or the container timed out), the container is
    kept as the step's evidence (``tasks.engine.evidence``) before it is removed.

    Raises:
        RunLimit: it did not finish within ``timeout``, or printed more than the caps on a
            stream (it is killed then; what it printed past the cap is not kept).
        EngineError: the container could not be created or started.
    """
    import docker.errors

    client = engine.client
    sweep(engine, labels, progress)
    try:
        container = client.containers.create(
            image_id, command=list(command) if command is not None else None,
            environment=dict(env), labels=dict(labels), detach=True,
            **{**isolation.create_options(), **(options.create_kwargs() if options else {})})
    except docker.errors.ImageNotFound:
        raise EngineError(f"{task}: the image {image_id[:19]} is gone from the engine; "
                          "rerun so that its build step makes it again.") from None
    capture: _Capture | None = None
    try:
        capture = _Capture(container, isolation, progress)
        try:
            container.start()
        except docker.errors.APIError as err:
            raise _not_started(task, command, err) from None
        capture.start()
        try:
            with _kept_on_timeout(engine, container, keep, progress):
                status = _wait(container, task, timeout, "the container did not finish",
                               "it needs",
                               lambda: capture.text("stdout") + capture.text("stderr"))
        except BaseException:  # a timeout, Ctrl-C: stop it, so that its streams end
            _kill(container)
            raise
        finally:
            capture.join(timeout=10)  # the streams end with the container
        outcome = Outcome(int(status.get("StatusCode", -1)), capture.text("stdout"),
                          capture.text("stderr"))
        if keep is not None and not capture.overflow and capture.error is None:
            keep.outcome(engine, container.id, outcome, progress)
    finally:
        if capture is not None:
            capture.stop()
        container.remove(force=True)
    if capture.overflow:
        raise RunLimit(f"{task}: {capture.overflow.replace('output too large: ', 'it printed ')}"
                       "; it was stopped there and the rest was dropped.", capture.overflow)
    if capture.error is not None:
        raise capture.error
    for line in outcome.stdout.splitlines()[capture.shown:]:  # its last line, unfinished
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


class _Capture(threading.Thread):
    """Reads a container's stdout and stderr as they come (attached before it starts, so
    nothing is missed), keeping what fits in the isolation's caps and showing stdout's lines
    as they come; when a stream passes a cap it notes why, detaches, kills the container and
    stops: the rest is never held."""

    def __init__(self, container: Any, isolation: Isolation, progress: Progress) -> None:
        super().__init__(daemon=True, name="capture")
        self.container, self.isolation, self.progress = container, isolation, progress
        self.kept = {"stdout": bytearray(), "stderr": bytearray()}
        self.lines = {"stdout": 0, "stderr": 0}
        self.shown = 0  # stdout's lines shown so far
        self._pending = b""  # the start of a line not shown yet
        self.overflow = ""  # why it was stopped: the cap it passed
        self.error: BaseException | None = None
        self._source = container.attach(stdout=True, stderr=True, stream=True, logs=False,
                                        demux=True)

    def run(self) -> None:
        try:
            for out, err in self._source:
                for stream, chunk in (("stdout", out), ("stderr", err)):
                    if chunk and self._keep(stream, chunk):
                        # detach first: the engine ends a container only once what it
                        # printed has gone to every attached reader, and this one stops
                        self.stop()
                        _kill(self.container)
                        return
        except Exception as err:  # noqa: BLE001 - reported by the caller, in its thread
            self.error = err
        finally:
            self.stop()

    def _keep(self, stream: str, chunk: bytes) -> bool:
        """Keep what fits of ``chunk``; True when the stream passed a cap."""
        kept = self.kept[stream]
        seen = len(kept) + len(chunk)
        fits = chunk[:max(self.isolation.output - len(kept), 0)]
        kept += fits
        self.lines[stream] += chunk.count(b"\n")
        self.overflow = self.isolation.too_large(stream, seen, self.lines[stream])
        if stream == "stdout" and not self.overflow:
            *done, self._pending = (self._pending + fits).split(b"\n")
            for line in done:
                self.progress(line.decode("utf-8", "replace"))
            self.shown += len(done)
        return bool(self.overflow)

    def stop(self) -> None:
        """Stop reading: the stream's socket is shut down, and the thread ends."""
        try:
            self._source.close()
        except Exception:  # noqa: BLE001 - closed already
            pass

    def text(self, stream: str) -> str:
        return bytes(self.kept[stream]).decode("utf-8", "replace")


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
