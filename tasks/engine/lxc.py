"""LXC: a container run from an image's file system with Debian's lxc (5.0), no daemon.

LXC is the first runtime both of the lecture's papers measure. It needs no image format: a
container's root is a folder. The folder is made from an image once per image content
(``docker create`` + ``docker export``, unpacked with GNU tar, owners and extended attributes
kept) under a store folder, named by a key the caller gives (the image's content digest), and
reused by every later run; the image's environment, working folder, user and command are kept
beside it (``<key>.json``), so that a run needs no engine at all.

Each run gets a config of its own and an overlay over the shared folder (``lxc.rootfs.path =
overlay:<folder>:<upper>``): what the container writes goes to its upper folder, which is
removed with the run, so no run sees another's files and the folder stays as the image made
it. The container has no network unless the caller gives one (``lxc.net.0.type = empty``: a
loopback only, which a start-host hook brings up, as Docker's ``--network none`` has it;
lxc-execute's small init would leave it down); a ``Veth`` puts it on a bridge the caller made
(``tasks.engine.bridges``), through a veth pair. ``lxc-execute`` runs the command under LXC's
small init; its exit status is the command's. lxc-execute dies with this process (a
parent-death signal) and the container with it (LXC gives its init one too); a timeout stops
it with ``lxc-stop --kill``.

Settings this machine needs (Debian 12, lxc 5.0.2, cgroup v1): ``lxc.apparmor.profile =
unconfined`` (no AppArmor here), ``lxc.mount.auto = proc:mixed sys:ro cgroup:mixed``. The
containers are privileged (root inside is root outside): LXC as the papers ran it, and as
root runs it without a user's uid ranges.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from ..errors import LxcError
from .. import process
from . import containers
from .boundary import translated
from .bridges import Veth
from .client import Engine

EXECUTE = "lxc-execute"


@dataclass(frozen=True)
class Rootfs:
    """An image's file system in a folder, with what a run needs of the image's config."""

    path: Path
    env: tuple[str, ...] = ()
    workdir: str = "/"
    user: str = ""
    command: tuple[str, ...] = ()  # the image's entrypoint and CMD


def _said(text: str) -> str:
    return " ".join(text.split())[-400:] or "no message"


def _check_tools() -> None:
    if shutil.which(EXECUTE) is None:
        raise LxcError(f"{EXECUTE} is missing: run script/bootstrap (it installs Debian's "
                       "lxc).")
    if os.geteuid() != 0:
        raise LxcError("LXC runs need root here (privileged containers; run as root, as "
                       "script/doit does on a fresh machine).")


def _image_config(engine: Engine, image_id: str) -> dict[str, object]:
    attrs = engine.client.api.inspect_image(image_id)
    config = attrs.get("Config") or {}
    return {"env": list(config.get("Env") or []), "workdir": config.get("WorkingDir") or "/",
            "user": config.get("User") or "",
            "command": list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])}


def stored(store: Path, key: str) -> Rootfs | None:
    """The folder made for ``key`` earlier, or None."""
    folder, about = store / key, store / f"{key}.json"
    try:
        config = json.loads(about.read_text())
    except (OSError, ValueError):
        return None
    if not folder.is_dir():
        return None
    return Rootfs(folder, tuple(config["env"]), config["workdir"], config["user"],
                  tuple(config["command"]))


@translated
def rootfs(engine: Engine, image_id: str, store: Path, key: str) -> Rootfs:
    """The image's file system as a folder ``store/key`` (made once: reused when there).

    It is unpacked into a folder of its own and renamed into place whole, so an interrupted
    export leaves no half folder, and two processes making it at once both end with one.

    Raises:
        LxcError: tar failed (a full disk), or lxc is missing.
        EngineError: the image is gone.
    """
    _check_tools()
    found = stored(store, key)
    if found is not None:
        return found
    from . import images

    config = _image_config(engine, image_id)
    store.mkdir(parents=True, exist_ok=True)
    part = store / f".{key}.part-{uuid.uuid4().hex[:8]}"
    part.mkdir()
    try:
        tar = subprocess.Popen(["tar", "--extract", "--numeric-owner", "--xattrs",
                                "--xattrs-include=*", "--same-permissions", "--directory",
                                str(part)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert tar.stdin is not None
        try:
            images.export_tree(engine, image_id, tar.stdin)  # type: ignore[arg-type]
        finally:
            tar.stdin.close()
            said = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
            tar.wait()
        if tar.returncode != 0:
            raise LxcError(f"unpacking the image {image_id[7:19]} into {store} failed: "
                           f"{_said(said)}")
        (part / ".dockerenv").unlink(missing_ok=True)
        about = store / f"{key}.json"
        about_part = part.with_suffix(".json")
        about_part.write_text(json.dumps(config) + "\n")
        try:
            os.rename(part, store / key)
        except OSError:  # another process made it first: use its folder
            pass
        os.replace(about_part, about)
    finally:
        if part.exists():
            shutil.rmtree(part, ignore_errors=True)
        part.with_suffix(".json").unlink(missing_ok=True)
    made = stored(store, key)
    if made is None:
        raise LxcError(f"{store / key} could not be made.")
    return made


#: The hook that brings the container's loopback up (LXC makes it, but only a full init
#: brings it up; lxc-execute's small init does not): run on the host with the container's
#: pid, before the command starts. ``nsenter`` and ``ip`` are util-linux's and iproute2's.
LOOPBACK_HOOK = '#!/bin/sh\nexec nsenter --target "$LXC_PID" --net ip link set lo up\n'


def config_text(fs: Rootfs, name: str, upper: Path, env: Mapping[str, str],
                network: Veth | None, hook: Path | None = None) -> str:
    """The container's LXC config: the overlay root, the image's environment and folder, the
    network (a loopback only, or a veth on a bridge too), the hook that brings lo up."""
    lines = [f"lxc.uts.name = {name[:63]}",
             f"lxc.rootfs.path = overlay:{fs.path}:{upper}",
             "lxc.apparmor.profile = unconfined",
             "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed",
             f"lxc.init.cwd = {fs.workdir or '/'}"]
    uid, gid, home = _user(fs)
    if uid:
        lines += [f"lxc.init.uid = {uid}", f"lxc.init.gid = {gid}"]
    merged = dict(e.split("=", 1) for e in fs.env if "=" in e)
    merged.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    merged.setdefault("HOME", home)  # as Docker sets it: the user's, from /etc/passwd
    merged.update(env)
    for key, value in merged.items():
        if "\n" in key + value:
            raise LxcError(f"the environment variable {key} holds a newline, which an LXC "
                           "config cannot.")
        lines.append(f"lxc.environment = {key}={value}")
    if hook is not None:
        lines.append(f"lxc.hook.start-host = {hook}")
    if network is None:
        lines.append("lxc.net.0.type = empty")
    else:
        lines += ["lxc.net.0.type = veth", f"lxc.net.0.link = {network.bridge}",
                  f"lxc.net.0.veth.pair = {network.host_end}", "lxc.net.0.flags = up",
                  f"lxc.net.0.ipv4.address = {network.address}",
                  f"lxc.net.0.ipv4.gateway = {network.gateway}"]
    return "\n".join(lines) + "\n"


def _user(fs: Rootfs) -> tuple[int, int, str]:
    """The image's USER as numbers, and its home, read from the image's /etc/passwd (a name
    must be there; a number may be missing: its home is then /)."""
    name, _, group = fs.user.partition(":")
    name = name or "0"
    entries: list[list[str]] = []
    try:
        entries = [line.split(":") for line in
                   (fs.path / "etc/passwd").read_text(errors="replace").splitlines()]
    except OSError:
        pass
    for parts in entries:
        if len(parts) > 5 and name in (parts[0], parts[2]) and parts[2].isdigit():
            gid = int(group) if group.isdigit() else int(parts[3]) if parts[3].isdigit() else 0
            return int(parts[2]), gid, parts[5] or "/"
    if name == "root":
        return 0, 0, "/root"
    if name.isdigit():
        return int(name), int(group) if group.isdigit() else int(name), "/root" \
            if name == "0" else "/"
    raise LxcError(f"the image's user '{fs.user}' is not in its /etc/passwd.")


@contextmanager
def _scratch(fs: Rootfs, env: Mapping[str, str],
             network: Veth | None) -> Iterator[tuple[str, Path]]:
    """A container's name and its folder (config, hook, overlay upper and work), removed
    after."""
    name = f"ac295-{uuid.uuid4().hex[:12]}"
    folder = fs.path.parent / "run" / name
    (folder / "upper").mkdir(parents=True)
    try:
        hook = folder / "loopback-up"
        hook.write_text(LOOPBACK_HOOK)
        hook.chmod(0o755)
        (folder / "config").write_text(config_text(fs, name, folder / "upper", env, network,
                                                   hook))
        yield name, folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _die_with_parent() -> None:
    """In lxc-execute, before exec: be killed when this process dies (its container dies
    with it: LXC gives the container's init a parent-death signal too)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _argv(name: str, folder: Path, command: Sequence[str]) -> list[str]:
    return [EXECUTE, "--name", name, "--lxcpath", str(folder), "--rcfile",
            str(folder / "config"), "--logfile", str(folder / "lxc.log"), "--logpriority",
            "ERROR", "--", *command]


def _stop(name: str, folder: Path, proc: subprocess.Popen[bytes]) -> None:
    subprocess.run(["lxc-stop", "--name", name, "--lxcpath", str(folder), "--kill"],
                   capture_output=True, timeout=30)
    process.kill_group(proc)
    proc.communicate()


def _log(folder: Path) -> str:
    try:
        return _said((folder / "lxc.log").read_text(errors="replace"))
    except OSError:
        return "no log"


def run(fs: Rootfs, command: Sequence[str] | None, env: Mapping[str, str], timeout: float,
        network: Veth | None = None) -> containers.Outcome:
    """Run ``command`` (default: the image's) in a fresh container on the folder; its outcome.

    Raises:
        LxcError: LXC could not start the container, or it did not finish within ``timeout``
            (it is stopped and its folder removed).
    """
    _check_tools()
    argv = list(command) if command else list(fs.command)
    if not argv:
        raise LxcError("no command: the image has no CMD; give the step a 'command:'.")
    with _scratch(fs, env, network) as (name, folder):
        proc = subprocess.Popen(_argv(name, folder, argv), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=_die_with_parent)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(name, folder, proc)
            raise LxcError(f"the LXC container did not finish within {timeout:g} s (raise "
                           "'timeout:' in the step if it needs longer).") from None
        except BaseException:
            _stop(name, folder, proc)
            raise
        code = proc.returncode
        said = err.decode(errors="replace")
        log = _log(folder)
        if code != 0 and ("Failed to spawn" in log or "Failed run" in log):
            raise LxcError(f"LXC could not start the container (exit {code}): {log}")
        if code == 255 and not out and not said:  # lxc's init says nothing when exec fails
            said = (f"lxc-execute: exit 255 and nothing printed: '{argv[0]}' may not exist "
                    "in the image\n")
    return containers.Outcome(exit_code=code, stdout=out.decode(errors="replace"), stderr=said)


@contextmanager
def session(fs: Rootfs, command: Sequence[str], env: Mapping[str, str]) -> Iterator[list[str]]:
    """The command that runs ``command`` in a fresh container on the folder, on a terminal
    (``doit shell``); its config and overlay are removed when the block ends."""
    _check_tools()
    with _scratch(fs, env, None) as (name, folder):
        yield _argv(name, folder, command)


@contextmanager
def serving(fs: Rootfs, command: Sequence[str], network: Veth) -> Iterator[subprocess.Popen[bytes]]:
    """A container running ``command`` (a server) on the network until the block ends; it is
    stopped then, and its folder removed."""
    _check_tools()
    with _scratch(fs, {}, network) as (name, folder):
        proc = subprocess.Popen(_argv(name, folder, command), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=_die_with_parent)
        try:
            yield proc
        finally:
            _stop(name, folder, proc)
