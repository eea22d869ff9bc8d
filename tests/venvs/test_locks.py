"""Locks installed exactly: hashes required whenever the lock has them, in an environment and
in a wheelhouse; a wheelhouse swapped in whole. pip itself is replaced by a recorder (what
is asked of it is the oracle); the real pip runs in tests/integration/test_venv.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.errors import VenvError
from tasks.venvs import envs, wheelhouse

HASHED = "six==1.16.0 \\\n    --hash=sha256:" + "1" * 64 + "\n"
PLAIN = "six==1.16.0\n"


@pytest.fixture
def calls(monkeypatch):
    """pip's invocations, as (module, args) lists; downloads write a file of each name."""
    found: list[tuple[str, ...]] = []

    def pip(env, *args, progress, what):
        found.append(args)
        if args[0] == "download":
            dest = Path(args[args.index("-d") + 1])
            name = "pip-24.0-py3-none-any.whl" if args[-3].startswith("pip==") else \
                "six-1.16.0-py2.py3-none-any.whl"
            (dest / name).write_bytes(name.encode())
        return "pip 24.0 from /x (python 3.11)\n" if args == ("--version",) else ""

    monkeypatch.setattr(envs, "pip", pip)
    monkeypatch.setattr(wheelhouse, "pip", pip)
    return found


def test_a_hashed_lock_is_installed_with_hashes_required(tmp_path, calls):
    lock = tmp_path / "env.lock"
    lock.write_text(HASHED)
    envs.install_lock(tmp_path / "env", lock, lambda line: None)
    assert calls == [("install", "--quiet", "--no-deps", "--require-hashes", "-r", str(lock))]


def test_a_lock_without_hashes_is_installed_exactly_but_cannot_require_them(tmp_path, calls):
    lock = tmp_path / "env.lock"
    lock.write_text(PLAIN)
    envs.install_lock(tmp_path / "env", lock, lambda line: None)
    assert calls == [("install", "--quiet", "--no-deps", "-r", str(lock))]


def test_an_empty_lock_installs_nothing(tmp_path, calls):
    lock = tmp_path / "env.lock"
    lock.write_text("# nothing pinned\n\n")
    envs.install_lock(tmp_path / "env", lock, lambda line: None)
    assert calls == []


def test_a_wheelhouse_downloads_with_hashes_required_and_holds_the_lock(tmp_path, calls):
    lock = tmp_path / "env.lock"
    lock.write_text(HASHED)
    folder = tmp_path / "state" / "wheelhouse"
    files = wheelhouse.fill_wheelhouse(folder, lock, tmp_path / "env", lambda line: None)
    first = calls[0]
    assert first[:5] == ("download", "--quiet", "--no-deps", "--only-binary=:all:",
                         "--require-hashes")
    assert first[5:7] == ("-r", str(lock))
    assert calls[1] == ("--version",)
    assert calls[2][-3:] == ("pip==24.0", "-d", str(folder.with_name("wheelhouse.partial")))
    assert (folder / "requirements.lock").read_text() == HASHED
    assert sorted(files) == ["pip-24.0-py3-none-any.whl", "requirements.lock",
                             "six-1.16.0-py2.py3-none-any.whl"]
    assert not folder.with_name("wheelhouse.partial").exists()


def test_an_unhashed_lock_downloads_without_requiring_hashes(tmp_path, calls):
    lock = tmp_path / "env.lock"
    lock.write_text(PLAIN)
    wheelhouse.fill_wheelhouse(tmp_path / "wh", lock, tmp_path / "env", lambda line: None)
    assert "--require-hashes" not in calls[0]


def test_a_failed_download_leaves_the_old_wheelhouse(tmp_path, monkeypatch):
    lock = tmp_path / "env.lock"
    lock.write_text(HASHED)
    folder = tmp_path / "wh"
    folder.mkdir()
    (folder / "old.whl").write_text("old")

    def failing(env, *args, progress, what):
        raise VenvError(f"{what} failed (pip exit 1):\nERROR: hash mismatch")

    monkeypatch.setattr(wheelhouse, "pip", failing)
    with pytest.raises(VenvError, match="hash mismatch"):
        wheelhouse.fill_wheelhouse(folder, lock, tmp_path / "env", lambda line: None)
    assert [p.name for p in folder.iterdir()] == ["old.whl"]
    assert not (tmp_path / "wh.partial").exists()  # nothing half-filled is left
