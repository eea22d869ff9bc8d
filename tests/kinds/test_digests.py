"""The import and commit kinds without an engine: their inputs digests."""
from __future__ import annotations

from pathlib import Path

from tasks.errors import Where
from tasks.kinds import commit, import_
from tasks.kinds.import_ import ImportStep


def import_step(tarball: Path, changes: tuple[str, ...] = ("ENV A=1",)) -> ImportStep:
    return ImportStep(exercise="ex", name="rootfs", doc="", after=(),
                      where=Where(tarball.parent / "exercise.yml", 2, "steps.rootfs"),
                      tarball=tarball, tag="me/rootfs:1", changes=changes)


def test_import_digest_reuses_the_cached_hash(tmp_path, monkeypatch):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(b"x" * 1000)
    step = import_step(tarball)
    cache = import_.tarball_cache(step)
    hashed: list[Path] = []
    real = import_.file_sha256
    monkeypatch.setattr(import_, "file_sha256", lambda path: hashed.append(path) or real(path))
    cached = import_.import_digest(step, cache)
    assert hashed == []
    assert import_.import_digest(step, None) == cached and hashed == [tarball]
    tarball.write_bytes(b"y" * 1001)  # a new stat: hashed again, new digest
    assert import_.import_digest(step, cache) != cached and len(hashed) == 2


def test_import_changes_change_the_digest(tmp_path):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(b"x")
    assert import_.import_digest(import_step(tarball), None) != \
        import_.import_digest(import_step(tarball, ("ENV A=2",)), None)


def test_commit_digest():
    one = commit.commit_digest("sha256:src", ("apt-get update", "apt-get install -y curl"))
    assert one == commit.commit_digest("sha256:src", ("apt-get update", "apt-get install -y curl"))
    assert one != commit.commit_digest("sha256:src", ("apt-get update",))
    assert one != commit.commit_digest("sha256:src", ("apt-get install -y curl", "apt-get update"))
    assert one != commit.commit_digest("sha256:other", ("apt-get update",
                                                         "apt-get install -y curl"))
