"""Build contexts made of more than one folder: an exercise's folder plus folders other steps
made (a wheelhouse under the state folder), laid out as one tree.

Generated files never go into the source tree: a build that needs them names them with
``include:`` and its context is assembled under the state folder, the exercise's files and
each included folder at its place. Files are hard links where the file system allows (so
that assembling costs no copy), copies otherwise; links are kept as links; a folder keeps
its mode. The assembled tree is made to match the sources each time (what is no longer in
them is removed), so the context files, ``.dockerignore`` (the exercise's, at the root) and
the build see one ordinary folder.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Mapping

from ..errors import BuildError


def assemble(context: Path, include: Mapping[str, Path], dest: Path, task: str) -> Path:
    """Make ``dest`` hold ``context`` with each included folder at its place; return ``dest``.

    Args:
        context: the exercise's build context folder.
        include: {path inside the context: folder whose files go there}.
        dest: the assembled tree (made, or brought up to date).
        task: the step, for messages.

    Raises:
        BuildError: an included folder is missing, or its place is taken in the context.
    """
    sources: list[tuple[str, Path]] = [("", context)]
    for place, folder in sorted(include.items()):
        if not folder.is_dir():
            raise BuildError(f"{task}: the folder {folder} that 'include: {place}' names is "
                             "missing. Run the step that makes it (doit why "
                             f"{task} names it), or fix 'include:'.")
        if os.path.lexists(context / place):
            raise BuildError(f"{task}: {context / place} is in the build context and "
                             f"'include: {place}' puts {folder} there too. Rename one of "
                             "them.")
        sources.append((place, folder))
    wanted: dict[str, Path] = {}  # path in dest -> source path
    for place, root in sources:
        prefix = place.strip("/") + "/" if place else ""
        parts = Path(prefix).parts
        for n in range(1, len(parts) + 1):  # the folders that lead to the place
            wanted.setdefault("/".join(parts[:n]) + "/", root if n == len(parts) else context)
        for walked, dirs, names in os.walk(root):
            rel = os.path.relpath(walked, root)
            base = prefix + ("" if rel == "." else rel + "/")
            for name in dirs:
                source = Path(walked) / name
                key = base + name + ("" if source.is_symlink() else "/")
                wanted[key] = source
            for name in names:
                wanted[base + name] = Path(walked) / name
    dest.mkdir(parents=True, exist_ok=True)
    _remove_unwanted(dest, wanted)
    for key in sorted(wanted):
        _place(wanted[key], dest / key.rstrip("/"), key.endswith("/"))
    return dest


def _remove_unwanted(dest: Path, wanted: Mapping[str, Path]) -> None:
    for walked, dirs, names in os.walk(dest, topdown=False):
        rel = os.path.relpath(walked, dest)
        base = "" if rel == "." else rel + "/"
        for name in names:
            if base + name not in wanted:
                os.unlink(Path(walked) / name)
        for name in dirs:
            path = Path(walked) / name
            if path.is_symlink():
                if base + name not in wanted:
                    path.unlink()
            elif base + name + "/" not in wanted:
                shutil.rmtree(path)


def _place(source: Path, target: Path, folder: bool) -> None:
    """Make ``target`` the same as ``source``: a folder (its mode), a link, or a file."""
    info = source.lstat()
    if folder:
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        target.mkdir(exist_ok=True)
        os.chmod(target, stat.S_IMODE(info.st_mode))
        return
    if os.path.lexists(target) and _same(source, info, target):
        return
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif os.path.lexists(target):
        target.unlink()
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: a copy
        shutil.copy2(source, target)


def _same(source: Path, info: os.stat_result, target: Path) -> bool:
    found = target.lstat()
    if stat.S_ISLNK(info.st_mode):
        return stat.S_ISLNK(found.st_mode) and os.readlink(source) == os.readlink(target)
    if (found.st_dev, found.st_ino) == (info.st_dev, info.st_ino):
        return True  # the same file (a hard link): any edit is already there
    # A copy (another file system): the same bytes and mode. Size and time are not enough:
    # a file swapped for another of the same size and time must be seen.
    return (stat.S_ISREG(found.st_mode) and found.st_dev != info.st_dev
            and found.st_mode == info.st_mode and _same_bytes(source, target))


def _same_bytes(one: Path, two: Path) -> bool:
    with open(one, "rb") as a, open(two, "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True
