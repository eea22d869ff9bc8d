"""A stricter file checker for doit's ``file_dep``.

doit's default (MD5Checker) takes an unchanged mtime as unchanged content, so a file rewritten
with its old mtime put back (a checkout, ``touch -d``, a copy that keeps times) is missed.
This checker also compares ctime (which no user call can set back), size and inode, and
hashes the file only when one of them moved: as cheap as the default when nothing changed.
"""
from __future__ import annotations

import os
from typing import Any

from doit.dependency import MD5Checker, get_file_md5


class StatThenHash(MD5Checker):
    """Unchanged iff (mtime_ns, ctime_ns, size, inode) are, or else the md5 is."""

    def check_modified(self, file_path: str, file_stat: os.stat_result, state: Any) -> bool:
        if not isinstance(state, (list, tuple)) or len(state) != 5:
            return True  # a state from another checker: look again
        stamp = [file_stat.st_mtime_ns, file_stat.st_ctime_ns, file_stat.st_size,
                 file_stat.st_ino]
        if stamp == list(state[:4]):
            return False
        if file_stat.st_size != state[2]:
            return True
        return bool(state[4] != get_file_md5(file_path))

    def get_state(self, dep: str, current_state: Any) -> Any:
        info = os.stat(dep)
        stamp = [info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino]
        if isinstance(current_state, (list, tuple)) and list(current_state[:4]) == stamp:
            return None  # unchanged: keep what is saved
        return stamp + [get_file_md5(dep)]
