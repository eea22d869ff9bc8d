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
    facts = {"e:push": {"ref": "r", "digest": "d"}}
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
