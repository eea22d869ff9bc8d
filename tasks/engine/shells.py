"""Environments for ``doit shell``: a container (or a podman container) made to be used from a
terminal, and the command line that attaches the terminal to it.

The engine's side is done here with the SDK (create, label, remove); the terminal's side is
the ``docker`` (or ``podman``) command, which knows how to put a terminal in raw mode, pass
its size on and give back the exit code. Everything made here is made for one shell and
removed when it ends:

- containers carry the project's labels (task, project copy) and ``org.ac295.shell``, the
  pid of the ``doit shell`` that made them, and the limits of every container of the
  project; their names start with ``local_prefix``. A run of the same step never sweeps them
  (``containers.sweep`` skips shells), and ``prune`` leaves those whose shell still runs;
- a network (or a named volume) a shell needs is its own (``<network>-shell-<pid>``), never
  the step's, so a run that starts meanwhile finds nothing of the shell's in its way; a
  volume of the shell's own starts empty, as a run's does.

Leftovers of a shell that was killed outright (its pid gone) are removed by the next shell of
the project copy, and by ``prune``.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from ..errors import EngineError
from .boundary import translated
from .client import CONTAINER_LIMITS, LABEL_PROJECT, LABEL_SHELL, Engine
from .options import ContainerOptions
from ..progress import Progress

#: The shell a container opens: bash where the image has it (line editing), else sh.
SHELL = ["/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh"]


def docker_command() -> str:
    """The ``docker`` command line tool, which attaches the terminal.

    Raises:
        EngineError: it is missing (the engine answers, but its CLI is not installed here).
    """
    found = shutil.which("docker")
    if found is None:
        raise EngineError("`doit shell` attaches your terminal with the `docker` command, which "
                          "is missing here: install Debian's docker.io (or docker-cli).")
    return found


def name_for(prefix: str, task: str, what: str = "shell", pid: int | None = None) -> str:
    """A container or network name: ``<prefix><exercise>-<step>-<what>-<pid>``, in the
    characters Docker allows (``[a-zA-Z0-9][a-zA-Z0-9_.-]*``)."""
    start = "" if task.startswith(prefix) else prefix  # a network's name may hold it already
    raw = f"{start}{task.replace(':', '-')}-{what}-{os.getpid() if pid is None else pid}"
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", raw).replace("--", "-").lstrip("_.-")[:200] \
        or "ac295-shell"


def hostname_for(task: str, failed: bool = False) -> str:
    """The host name a shell's prompt shows (``exercise2-question``): where you are."""
    raw = ("failed-" if failed else "") + task.replace(":", "-").replace(".", "-").lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")[:63].strip("-") or "ac295"


def alive(labels: Mapping[str, str] | None) -> bool:
    """True if the labels name a shell whose ``doit shell`` process still runs here."""
    pid = (labels or {}).get(LABEL_SHELL, "")
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


@dataclass(frozen=True)
class Box:
    """A container for a shell, spelt out in plain values.

    Attributes:
        image: the image id (or reference) it is made from.
        name: its container name.
        hostname: what its prompt shows.
        shell: True: the shell (``SHELL``) instead of the image's entrypoint and command;
            False: ``command`` (or, if None, the image's own), through its entrypoint.
    """

    image: str
    name: str
    hostname: str
    shell: bool = True
    command: Sequence[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    aliases: Sequence[str] = ()
    ports: Mapping[str, str] = field(default_factory=dict)  # container port -> host port
    options: ContainerOptions | None = None  # working folder, user, mounts, entrypoint


def create_kwargs(box: Box, labels: Mapping[str, str]) -> dict[str, Any]:
    """The SDK's ``containers.create`` arguments for a box: the step's options but its
    health check (a shell is no service to wait for), and with ``shell`` a shell instead of
    the entrypoint and command."""
    kwargs: dict[str, Any] = {
        "name": box.name, "hostname": box.hostname, "environment": dict(box.env),
        "labels": dict(labels), "tty": True, "stdin_open": True, "detach": True,
        **CONTAINER_LIMITS}
    if box.options:
        kwargs.update({k: v for k, v in box.options.create_kwargs().items()
                       if k != "healthcheck"})
    if box.shell:
        kwargs["entrypoint"] = SHELL[:1]
        kwargs["command"] = SHELL[1:]
    elif box.command is not None:
        kwargs["command"] = list(box.command)
    if box.network:
        kwargs["network"] = box.network
    if box.ports:
        kwargs["ports"] = {port if "/" in port else f"{port}/tcp": ("127.0.0.1", int(host))
                           for port, host in box.ports.items()}
    return kwargs


@contextlib.contextmanager
def container(engine: Engine, box: Box, labels: Mapping[str, str]) -> Iterator[list[str]]:
    """Create the box's container (not started); yield the command that starts it attached
    to the terminal; remove it when the block ends, whatever ends it."""
    cli = docker_command()
    made = _create(engine, box, labels)
    try:
        yield [cli, "start", "--attach", "--interactive", made]
    finally:
        remove_container(engine, made)


@translated
def _create(engine: Engine, box: Box, labels: Mapping[str, str]) -> str:
    import docker.errors

    client = engine.client
    kwargs = create_kwargs(box, labels)
    if box.network:
        kwargs["networking_config"] = {box.network: client.api.create_endpoint_config(
            aliases=list(box.aliases) or None)}
    try:
        return str(client.containers.create(box.image, **kwargs).id)
    except docker.errors.ImageNotFound:
        raise EngineError(f"the image {box.image[:19]} is gone from the engine; run the step "
                          "that makes it again.") from None


@translated
def remove_container(engine: Engine, ident: str) -> None:
    """Remove a shell's container (gone already: nothing to do)."""
    import docker.errors

    try:
        engine.client.api.remove_container(ident, force=True)
    except docker.errors.NotFound:
        pass


@contextlib.contextmanager
def network(engine: Engine, name: str, labels: Mapping[str, str]) -> Iterator[str]:
    """A bridge network of the shell's own, removed when the block ends (after the
    container, which the caller enters later and so leaves first)."""
    made = _create_network(engine, name, labels)
    try:
        yield name
    finally:
        _remove_network(engine, made)


@translated
def _create_network(engine: Engine, name: str, labels: Mapping[str, str]) -> str:
    return str(engine.client.networks.create(name, driver="bridge", labels=dict(labels)).id)


@translated
def _remove_network(engine: Engine, ident: str) -> None:
    import docker.errors

    try:
        engine.client.api.remove_network(ident)
    except docker.errors.NotFound:
        pass


@contextlib.contextmanager
def volume(engine: Engine, name: str, labels: Mapping[str, str]) -> Iterator[str]:
    """An empty named volume of the shell's own (a step's volume lives only while a run
    does), removed when the block ends, after the container that mounts it."""
    _create_volume(engine, name, labels)
    try:
        yield name
    finally:
        _remove_volume(engine, name)


@translated
def _create_volume(engine: Engine, name: str, labels: Mapping[str, str]) -> None:
    engine.client.volumes.create(name, labels=dict(labels))


@translated
def _remove_volume(engine: Engine, name: str) -> None:
    import docker.errors

    try:
        engine.client.api.remove_volume(name, force=True)
    except docker.errors.NotFound:
        pass


@translated
def running(engine: Engine, name: str, task: str) -> bool:
    """True if the container ``name`` runs now and is ``task``'s, made by this project copy
    (a service that a run in progress started)."""
    import docker.errors

    from .client import LABEL_TASK

    try:
        attrs = engine.client.api.inspect_container(name)
    except docker.errors.NotFound:
        return False
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    return bool((attrs.get("State") or {}).get("Running")) and \
        labels.get(LABEL_PROJECT) == engine.project and labels.get(LABEL_TASK) == task


def exec_argv(name: str, command: Sequence[str] | None = None) -> list[str]:
    """The command that opens a shell (or runs ``command``) in a running container."""
    return [docker_command(), "exec", "--interactive", "--tty", name,
            *(list(command) if command is not None else SHELL)]


@translated
def sweep_dead(engine: Engine, progress: Progress) -> int:
    """Remove what shells of this project copy left when they were killed (their
    ``doit shell`` process is gone); how many things went."""
    wanted = {"label": [LABEL_SHELL, f"{LABEL_PROJECT}={engine.project}"]}
    gone = 0
    for found in engine.client.containers.list(all=True, filters=wanted):
        if not alive(found.labels):
            remove_container(engine, found.id)
            progress(f"removed container {found.name}, left by a shell that was killed")
            gone += 1
    for net in engine.client.networks.list(filters=wanted):
        if not alive(net.attrs.get("Labels")):
            _remove_network(engine, net.id)
            progress(f"removed network {net.name}, left by a shell that was killed")
            gone += 1
    for vol in engine.client.volumes.list(filters=wanted):
        if not alive(vol.attrs.get("Labels")):
            _remove_volume(engine, vol.name)
            progress(f"removed volume {vol.name}, left by a shell that was killed")
            gone += 1
    return gone


def rootless_argv(user: pwd.struct_passwd, image_id: str, name: str, hostname: str,
                  labels: Mapping[str, str], env: Mapping[str, str],
                  command: Sequence[str] | None, shell: bool) -> list[str]:
    """The command that runs a rootless podman container on the terminal as ``user``, from
    its home folder, in its environment, with no network, as a rootless run does
    (``tasks.engine.rootless``); ``shell``: a shell instead of ``command`` (None: the
    image's own)."""
    from .rootless import PODMAN, _env

    argv = ["env", "-i", "-C", user.pw_dir, *[f"{k}={v}" for k, v in _env(user).items()],
            f"TERM={os.environ.get('TERM', 'xterm')}", "runuser", "-u", user.pw_name, "--",
            *PODMAN, "run", "--rm", "--interactive", "--tty", "--name", name,
            "--hostname", hostname, "--network", "none"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    if shell:
        return argv + ["--entrypoint", SHELL[0], image_id, *SHELL[1:]]
    return argv + [image_id, *(command or [])]
