"""The pipeline lock's pure parts: what it keeps, and how differences are told."""
from __future__ import annotations

import pytest

from tasks.graph import pipelock
from tasks.errors import Ac295Error


def test_no_difference():
    facts = {"e:image": {"inputs_digest": "sha256:a", "image_id": "sha256:b"}}
    assert pipelock.differences(facts, facts) == []


def test_each_difference_on_one_line():
    locked = {"e:image": {"inputs_digest": "sha256:a", "image_id": "sha256:b"},
              "e:gone": {"digest": "x"}}
    here = {"e:image": {"inputs_digest": "sha256:c", "image_id": "sha256:b"},
            "e:new": {"digest": "y"}}
    assert pipelock.differences(locked, here) == [
        "e:gone: in the lock, not in this project",
        "e:image inputs_digest: lock sha256:a, here sha256:c",
        "e:new: not in the lock",
    ]


def test_write_and_read_round_trip(tmp_path):
    facts = {"e:push": {"content_digest": "sha256:d"}}
    pipelock.write(tmp_path / "ac295.lock", facts)
    assert pipelock.read(tmp_path / "ac295.lock") == facts


@pytest.mark.parametrize("text, message", [(None, "run `doit lock`"),
                                           ("not json", "not a readable lock"),
                                           ('{"schema": 99}', "not a lock of this version")])
def test_bad_lock_files(tmp_path, text, message):
    path = tmp_path / "ac295.lock"
    if text is not None:
        path.write_text(text)
    with pytest.raises(Ac295Error, match=message):
        pipelock.read(path)


# --- explained differences: Debian's archive moved, or the project changed ---------------------

BASE = {"inputs_digest": "sha256:r", "content_digest": "sha256:c1",
        "manifest": ["libc6=2.36-9", "python3=3.11.2-6"]}
APP = {"inputs_digest": "sha256:i1", "content_digest": "sha256:a1"}
UPSTREAM = {"app:image": {"base:image"}, "app:check": {"app:image", "base:image"},
            "base:image": set()}


def test_a_moved_archive_is_named_package_by_package():
    moved = {**BASE, "content_digest": "sha256:c2",
             "manifest": ["libc6=2.36-9", "python3=3.11.2-6+deb12u1", "tzdata=2024a"]}
    verdict = pipelock.explain({"base:image": BASE, "app:image": APP},
                               {"base:image": moved,
                                "app:image": {**APP, "inputs_digest": "sha256:i2"}},
                               UPSTREAM)
    assert verdict.archive_only is True
    assert verdict.lines == [
        "base:image: python3 3.11.2-6 -> 3.11.2-6+deb12u1 (the archive changed)",
        "base:image: tzdata (none) -> 2024a (the archive changed)",
        "app:image inputs_digest: lock sha256:i1, here sha256:i2 (follows from base:image)",
        "base:image content_digest: lock sha256:c1, here sha256:c2 (follows from base:image)",
    ]


def test_a_difference_the_archive_does_not_explain_is_the_projects():
    verdict = pipelock.explain({"base:image": BASE, "app:image": APP},
                               {"base:image": BASE,
                                "app:image": {**APP, "content_digest": "sha256:a2"}},
                               UPSTREAM)
    assert verdict.archive_only is False
    assert verdict.lines == ["app:image content_digest: lock sha256:a1, here sha256:a2"]


def test_no_difference_is_not_an_archive_move():
    verdict = pipelock.explain({"base:image": BASE}, {"base:image": BASE}, UPSTREAM)
    assert verdict.lines == [] and verdict.archive_only is False


def test_long_values_are_shortened_on_their_line():
    lines = pipelock.differences({"t:run": {"stdout": "x" * 200}}, {"t:run": {"stdout": "y"}})
    assert len(lines) == 1 and len(lines[0]) < 120 and lines[0].endswith("here y")


def test_the_file_is_sorted_indented_json_with_a_newline(tmp_path):
    path = tmp_path / "ac295.lock"
    pipelock.write(path, {"b:x": {"z": 1, "a": [2]}, "a:y": {}})
    assert path.read_text() == (
        '{\n  "schema": 2,\n  "steps": {\n    "a:y": {},\n    "b:x": {\n      "a": [\n'
        '        2\n      ],\n      "z": 1\n    }\n  }\n}\n')
    path.write_bytes('{"schema": 2, "steps": {"a:x": {"v": "é"}}}'.encode("utf-8"))
    assert pipelock.read(path) == {"a:x": {"v": "é"}}


def test_fields_on_one_side_only_and_manifests_on_one_side():
    locked = {"a:x": {"only_locked": 1, "same": 2}, "b:y": {"manifest": ["p=1"]}}
    here = {"a:x": {"same": 2, "only_here": 3}, "b:y": {}}
    assert pipelock.differences(locked, here) == [
        "a:x only_here: lock null, here 3", "a:x only_locked: lock 1, here null",
        'b:y manifest: lock ["p=1"], here null']
    verdict = pipelock.explain(locked, here, {})
    assert verdict.lines[0] == "b:y: p 1 -> (none) (the archive changed)"
    assert not verdict.archive_only  # a:x's differences are the project's
    # a step only this machine has, with a manifest, is no archive move
    assert pipelock.explain({}, {"c:z": {"manifest": ["p=1"]}}, {}).lines == [
        "c:z: not in the lock"]


def test_package_versions_keep_everything_after_the_first_equals_sign():
    assert pipelock.package_changes(["a=1=2", "b=1", "junk"], ["a=1=3", "c=2"]) == [
        "a 1=2 -> 1=3", "b 1 -> (none)", "c (none) -> 2"]


def test_two_moved_steps_each_say_their_packages():
    locked = {"a:base": {"manifest": ["p=1"]}, "b:base": {"manifest": ["q=1"]}}
    here = {"a:base": {"manifest": ["p=2"]}, "b:base": {"manifest": ["q=2"]}}
    verdict = pipelock.explain(locked, here, {})
    assert verdict.lines == ["a:base: p 1 -> 2 (the archive changed)",
                             "b:base: q 1 -> 2 (the archive changed)"]
    assert verdict.archive_only


def test_a_step_missing_from_the_lock_downstream_of_a_moved_archive_follows_from_it():
    locked = {"ex:base": {"manifest": ["p=1"]}}
    here = {"ex:base": {"manifest": ["p=2"]}, "ex:X": {"d": 1}}
    verdict = pipelock.explain(locked, here, {"ex:X": {"ex:base"}})
    assert verdict.lines == ["ex:base: p 1 -> 2 (the archive changed)",
                             "ex:X: not in the lock (follows from ex:base)"]
    assert verdict.archive_only


@pytest.mark.parametrize("size, shown", [(80, "x" * 80), (81, "x" * 77 + "...")])
def test_a_value_is_cut_after_80_characters(size, shown):
    assert pipelock.differences({"a:b": {"k": "x" * size}}, {"a:b": {"k": "y"}}) == [
        f"a:b k: lock {shown}, here y"]
