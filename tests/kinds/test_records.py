"""Records: atomic JSON files that say a step succeeded."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tasks import atomic
from tasks.kinds import records


def test_path_in():
    assert records.path_in(Path("/p/.ac295"), "exercise2:image") == \
        Path("/p/.ac295/records/exercise2/image.json")


def test_local_facts_live_beside_the_records_not_among_them():
    record = records.path_in(Path("/p/.ac295"), "exercise2:image")
    assert records.local_of(record) == Path("/p/.ac295/local/exercise2/image.json")
    # a step named like a local file cannot collide with another step's local facts
    assert records.local_of(records.path_in(Path("/s"), "ex:a.local")) != \
        records.path_in(Path("/s"), "ex:a.local")


def test_write_then_read(tmp_path):
    path = tmp_path / "records" / "ex" / "image.json"  # parents are made
    records.write(path, {"task": "ex:image", "image_id": "sha256:abc"})
    assert records.read(path) == {"schema": records.SCHEMA, "task": "ex:image",
                                  "image_id": "sha256:abc"}
    assert os.listdir(path.parent) == ["image.json"]  # no temp file left behind


def test_records_are_deterministic(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    records.write(a, {"z": 1, "a": [1, 2]})
    records.write(b, {"a": [1, 2], "z": 1})
    assert a.read_bytes() == b.read_bytes()


def test_overwrite_replaces(tmp_path):
    path = tmp_path / "r.json"
    records.write(path, {"image_id": "old"})
    records.write(path, {"image_id": "new"})
    assert records.read(path)["image_id"] == "new"


def test_failed_write_keeps_the_old_record_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    records.write(path, {"image_id": "old"})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        records.write(path, {"image_id": "new"})
    assert records.read(path)["image_id"] == "old"
    assert os.listdir(tmp_path) == ["r.json"]


def test_missing_record_reads_as_none(tmp_path):
    assert records.read(tmp_path / "nope.json") is None


@pytest.mark.parametrize("text", [
    '{"schema": 0, "image_id": "x"}',
    '{"image_id": "x"}',
    '{"schema": "1", "image_id": "x"}',
    '[1, 2]',
    '{"schema": 1, "image_id": ',  # half a file
    '',
])
def test_schema_mismatch_or_garbage_reads_as_none(tmp_path, text):
    path = tmp_path / "r.json"
    path.write_text(text)
    assert records.read(path) is None


def test_current_schema_is_read(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema": records.SCHEMA, "image_id": "x"}))
    assert records.read(path) == {"schema": records.SCHEMA, "image_id": "x"}


def test_remove(tmp_path):
    path = tmp_path / "r.json"
    records.write(path, {"image_id": "x"})
    records.remove(path)
    assert not path.exists()
    records.remove(path)  # removing a missing record is fine
    assert records.read(path) is None
