"""Wheelhouses: the wheels of a lock, downloaded on the host for offline installs in images.

Containers here cannot reach PyPI over HTTPS; a wheelhouse in the build context is also the
hermetic way: the image installs exactly the files the lock pins (hashes checked).
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


from .envs import pip
from ..progress import Progress

LOCK_NAME = "requirements.lock"


def fill_wheelhouse(folder: Path, lock: Path, python_env: Path, progress: Progress) -> dict:
    """Download the lock's wheels (and a pip wheel to install them) into ``folder``.

    The folder is filled beside and swapped in at the end, so a failed download leaves the old
    one or none. Returns {file name: sha256} of what it holds.
    """
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        hashed = ["--require-hashes"] if "--hash=" in lock.read_text() else []
        progress(f"pip download -r {lock.name} into {folder}")
        pip(python_env, "download", "--quiet", "--no-deps", "--only-binary=:all:", *hashed,
            "-r", str(lock), "-d", str(partial), progress=progress,
            what=f"downloading the wheels of {lock}")
        pip_version = pip(python_env, "--version", progress=progress,
                          what="pip --version").split()[1]
        pip(python_env, "download", "--quiet", "--no-deps", "--only-binary=:all:",
            f"pip=={pip_version}", "-d", str(partial), progress=progress,
            what="downloading a pip wheel")
        shutil.copyfile(lock, partial / LOCK_NAME)
    except BaseException:  # a failure or Ctrl-C: no half-filled folder is left behind
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(folder)
    partial.rename(folder)
    return contents(folder)


def contents(folder: Path) -> dict:
    """{file name: sha256} of a folder's files."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}
