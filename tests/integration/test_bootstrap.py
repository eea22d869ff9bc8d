"""script/bootstrap's fast path: silent when all is set up; a moved stat costs one content
check, not a reinstall; a stamp that does not match is noticed.

Runs in the checkout itself (its .venv is the one the tests use); the only change it makes is
the mtime of requirements.txt, whose content it keeps.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STAMP = REPO / ".venv/.requirements.stamp"


def bootstrap() -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "script/bootstrap")], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def test_set_up_is_silent_and_a_touched_requirements_file_reinstalls_nothing():
    bootstrap()
    settled = bootstrap()
    assert settled.returncode == 0 and settled.stderr == "" and settled.stdout == ""
    before = STAMP.read_text().splitlines()
    requirements = REPO / "requirements.txt"
    stat = requirements.stat()
    os.utime(requirements, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    moved = bootstrap()
    assert moved.returncode == 0
    assert "Docker Engine answers" in moved.stderr  # the slow path ran its checks ...
    assert "installing requirements.txt" not in moved.stderr  # ... and the content matched
    after = STAMP.read_text().splitlines()
    assert after[1] == before[1] and after[0] != before[0]
    assert bootstrap().stderr == ""  # the new stat is the fast path again


def test_a_wrong_stamp_is_not_the_fast_path():
    text = STAMP.read_text()
    try:
        STAMP.write_text("0 0 0 0\n" + text.splitlines()[1] + "\n")
        found = bootstrap()
        assert found.returncode == 0 and "Docker Engine answers" in found.stderr
        assert "installing" not in found.stderr
    finally:
        bootstrap()
    assert bootstrap().stderr == ""
