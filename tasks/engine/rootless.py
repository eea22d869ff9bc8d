"""Rootless containers: podman, run by an unprivileged user, from a single-file image.

This is what Singularity/Apptainer gives HPC users (an image is one file; no daemon; the
container runs as you), done with podman, which Debian ships (Apptainer it does not). The
project runs as root, so it makes a user (``ac295-rootless``) with subordinate uid ranges and
runs podman as that user with ``runuser``: uid 0 in the container is that user's uid outside.
podman has no daemon: nothing here talks to dockerd.

The image comes from a ``docker save`` archive: root opens the file and hands it to ``podman
load`` on stdin (the user needs no access to the project's folders); an image already
loaded (same id) is not loaded again.

Settings this machine needs (Debian 12, podman 4.3, cgroup v1, no systemd user session):
``--network none`` (no slirp4netns), ``--runtime runc`` (crun fails on hybrid cgroups),
``--cgroup-manager cgroupfs``, ``--storage-driver overlay`` (the default vfs copies the whole
image for every container: 13 s instead of 0.4 s), ``--log-level error`` (a warning about
``/`` not being a shared mount on every run), and ``XDG_RUNTIME_DIR=/run/user/<uid>``.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import tarfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from ..errors import RootlessError
from .. import process
from . import containers

USER = "ac295-rootless"
SUBIDS = 65536
PODMAN = ["podman", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--log-level",
          "error", "--storage-driver", "overlay"]


@dataclass(frozen=True)
class Outcome(containers.Outcome):
    """What a rootless container did (a one-shot container's outcome), and as whom it ran."""

    host_uid: int  # the uid its processes had on this machine


def _ranges(path: Path) -> list[tuple[str, int, int]]:
    found = []
    for line in path.read_text().splitlines() if path.exists() else []:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            found.append((parts[0], int(parts[1]), int(parts[2])))
    return found


def ensure_user(name: str = USER) -> pwd.struct_passwd:
    """Make the user (no login shell) with 65536 subordinate uids and gids, and its runtime
    folder; nothing when all is there. Storage of another driver is reset.

    Raises:
        RootlessError: not root, podman missing, or the user cannot be made.
    """
    if os.geteuid() != 0:
        raise RootlessError("rootless runs need root to set up their user (run as root, as "
                            "script/doit does on a fresh machine).")
    subuid, subgid = Path("/etc/subuid"), Path("/etc/subgid")
    for path in (subuid, subgid):
        if not path.exists():
            path.touch(mode=0o644)  # useradd gives ranges only when the files exist
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        _root(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", "--comment",
               "ac295 rootless containers", name])
        user = pwd.getpwnam(name)
    missing = [(flag, path) for flag, path in (("--add-subuids", subuid),
                                               ("--add-subgids", subgid))
               if not any(owner in (name, str(user.pw_uid)) and count >= SUBIDS
                          for owner, _, count in _ranges(path))]
    if missing:
        start = max([100000] + [s + c for p in (subuid, subgid) for _, s, c in _ranges(p)])
        span = f"{start}-{start + SUBIDS - 1}"
        _root(["usermod", *[x for flag, _ in missing for x in (flag, span)], name])
    runtime = Path("/run/user") / str(user.pw_uid)
    runtime.mkdir(parents=True, exist_ok=True)
    os.chown(runtime, user.pw_uid, user.pw_gid)
    runtime.chmod(0o700)
    if missing and (Path(user.pw_dir) / ".local/share/containers").exists():
        podman(name, ["system", "migrate"], check=False)
    info = podman(name, ["info", "--format", "{{.Store.GraphDriverName}}"], check=False)
    other = re.search(r'graph driver "([^"]+)" does not match', info.stderr)
    if other:  # storage made with another driver: every call would fail until reset
        subprocess.run(["runuser", "-u", name, "--", "podman", "--storage-driver",
                        other.group(1), "system", "reset", "--force"], env=_env(user),
                       cwd=user.pw_dir, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=300)
    elif info.returncode != 0:
        raise RootlessError(f"podman does not work for {name}: {_said(info.stderr)}")
    return user


def _root(command: list[str]) -> None:
    found = subprocess.run(command, capture_output=True, text=True)
    if found.returncode != 0:
        raise RootlessError(f"{' '.join(command)} failed: {_said(found.stderr)}")


def _said(text: str) -> str:
    return " ".join(text.split())[-400:] or "no message"


def _env(user: pwd.struct_passwd) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": user.pw_dir,
            "USER": user.pw_name, "LOGNAME": user.pw_name, "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": f"/run/user/{user.pw_uid}"}


def podman(name: str, args: Sequence[str], check: bool = True, stdin: int | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``podman ARGS`` as the user ``name``, with this machine's settings (see the module)."""
    user = pwd.getpwnam(name)
    try:
        found = subprocess.run(["runuser", "-u", name, "--", *PODMAN, *args], env=_env(user),
                               cwd=user.pw_dir, stdin=stdin if stdin is not None else
                               subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout)
    except FileNotFoundError:
        raise RootlessError("runuser is missing (Debian's util-linux).") from None
    if check and found.returncode != 0:
        raise RootlessError(f"podman {' '.join(args[:2])} as {name} failed "
                            f"(exit {found.returncode}): {_said(found.stderr)}")
    return found


def archive_image_id(archive: Path) -> str:
    """The image id a ``docker save`` archive holds (its config's digest); podman keeps it.

    Raises:
        RootlessError: the file is not an archive of one image.
    """
    try:
        with tarfile.open(archive, "r:") as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.load(member) if member else None
    except (OSError, KeyError, tarfile.TarError, ValueError) as err:
        raise RootlessError(f"{archive} is not a docker save archive ({err}).") from None
    if not isinstance(manifest, list) or len(manifest) != 1:
        raise RootlessError(f"{archive} must hold exactly one image.")
    return "sha256:" + Path(manifest[0]["Config"]).name.removesuffix(".json")


def load(archive: Path, name: str = USER) -> str:
    """Make the archive's image available to the user's podman; its id. Loaded once per id:
    root reads the file and hands it over on stdin."""
    image_id = archive_image_id(archive)
    if podman(name, ["image", "exists", image_id], check=False).returncode == 0:
        return image_id
    with open(archive, "rb") as handle:
        podman(name, ["load", "--quiet"], stdin=handle.fileno(), timeout=900)
    return image_id


def run(image_id: str, command: Sequence[str] | None, env: Mapping[str, str], timeout: int,
        name: str = USER) -> Outcome:
    """Run a container from a loaded image as the user, no network; its outcome.

    On a timeout or an interrupt, podman's whole process group is killed and the container
    removed (it lives on under conmon otherwise).
    """
    user = pwd.getpwnam(name)
    container = f"ac295-{uuid.uuid4().hex[:12]}"
    args = ["run", "--rm", "--quiet", "--name", container, "--network", "none",
            "--timeout", str(int(timeout))]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    args += [image_id, *(command or [])]
    proc = subprocess.Popen(["runuser", "-u", name, "--", *PODMAN, *args], env=_env(user),
                            cwd=user.pw_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        _abort(proc, name, container)
        raise RootlessError(f"the rootless container did not finish within {timeout} s "
                            "(raise 'timeout:' in the step if it needs longer).") from None
    except BaseException:
        _abort(proc, name, container)
        raise
    code = proc.returncode
    if code in (137, 255) and time.monotonic() - start >= timeout:
        raise RootlessError(f"the rootless container did not finish within {timeout} s "
                            "(raise 'timeout:' in the step if it needs longer).")
    if code in (125, 126) and "Error:" in err.decode(errors="replace"):
        raise RootlessError(f"podman could not run the container (exit {code}): "
                            f"{_said(err.decode(errors='replace'))}")
    return Outcome(code, out.decode(errors="replace"), err.decode(errors="replace"),
                   user.pw_uid)


def _abort(proc: subprocess.Popen[bytes], name: str, container: str) -> None:
    process.kill_group(proc)
    proc.communicate()
    podman(name, ["rm", "--force", "--time", "0", container], check=False, timeout=60)


@contextmanager
def serving(image_id: str, command: Sequence[str],
            name: str = USER) -> Iterator[subprocess.Popen[bytes]]:
    """A rootless container running ``command`` (a server) on this machine's own network
    stack (``--network host``: podman's user-mode network, slirp4netns, needs /dev/net/tun,
    which only root may open here), until the block ends; then it is killed and removed."""
    user = pwd.getpwnam(name)
    container = f"ac295-{uuid.uuid4().hex[:12]}"
    args = ["run", "--rm", "--quiet", "--name", container, "--network", "host", image_id,
            *command]
    proc = subprocess.Popen(["runuser", "-u", name, "--", *PODMAN, *args], env=_env(user),
                            cwd=user.pw_dir, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        yield proc
    finally:
        _abort(proc, name, container)


def user_network(image_id: str, name: str = USER) -> str:
    """What podman says when a rootless container asks for its own network (slirp4netns):
    "" when that works, else its one-line reason."""
    found = podman(name, ["run", "--rm", "--network", "slirp4netns", image_id, "true"],
                   check=False, timeout=120)
    return "" if found.returncode == 0 else _said(found.stderr)
