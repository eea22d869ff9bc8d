"""The stricter file checker: content swaps that keep the mtime are seen; touches are not."""
from __future__ import annotations

import os

from tasks.graph.checker import StatThenHash


def state_of(path):
    return StatThenHash().get_state(str(path), None)


def modified(path, state) -> bool:
    return StatThenHash().check_modified(str(path), os.stat(path), state)


def test_unchanged_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("abc")
    assert not modified(path, state_of(path))


def test_equal_mtime_content_swap_is_seen(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("abc")
    before = os.stat(path)
    state = state_of(path)
    path.write_text("xyz")  # same size, same inode
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # the old mtime put back
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert modified(path, state)


def test_touch_with_same_content_is_not_a_change(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("abc")
    state = state_of(path)
    os.utime(path, ns=(1, 1))
    assert not modified(path, state)


def test_state_from_another_checker_counts_as_changed(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("abc")
    assert modified(path, [1.0, 3, "md5"])


def test_get_state_is_none_when_nothing_moved(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("abc")
    state = state_of(path)
    assert StatThenHash().get_state(str(path), state) is None


def test_an_unchanged_stat_is_answered_without_reading_the_file(tmp_path, monkeypatch):
    from tasks.graph import checker

    path = tmp_path / "f.txt"
    path.write_text("abc")
    state = state_of(path)

    def no_hashing(path):
        raise AssertionError("hashed a file whose stat did not move")

    monkeypatch.setattr(checker, "get_file_md5", no_hashing)
    assert not modified(path, state)


def test_another_size_is_a_change_without_hashing(tmp_path, monkeypatch):
    from tasks.graph import checker

    path = tmp_path / "f.txt"
    path.write_text("abc")
    before = os.stat(path)
    state = state_of(path)
    path.write_text("abcd")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    monkeypatch.setattr(checker, "get_file_md5", lambda path: state[4])  # even the same md5
    assert modified(path, state)


def test_a_state_of_another_length_counts_as_changed(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("abc")
    stamp = state_of(path)[:4]  # the stat alone, without an md5: not this checker's state
    assert modified(path, stamp)
    assert modified(path, tuple(state_of(path)) + ("extra",))
