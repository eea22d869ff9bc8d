"""The docs' generated parts (schema, lock table) match the kinds, and say how to remake them."""
from __future__ import annotations

import re

import pytest

from tasks.kinds import KINDS, reference


def test_the_committed_lock_table_is_the_one_the_kinds_make():
    page = reference.RERUNS_PAGE.read_text()
    assert reference.with_lock_table(page) == page, \
        f"the ac295.lock table in docs/reruns.md is stale: run {reference.COMMAND}"


@pytest.mark.parametrize("kind", list(KINDS), ids=lambda k: k.name)
def test_the_table_names_each_field_the_lock_keeps(kind):
    if not kind.lock_fields:
        return
    described = kind.describe_lock()
    missing = [f for f in kind.lock_fields if f"`{f}`" not in described]
    assert not missing, f"{kind.name}.lock_doc does not name {missing}"


def test_a_kind_that_keeps_nothing_is_listed_as_such():
    table = reference.lock_table()
    kept_none = re.search(r"^Nothing of (.*) steps", table, re.MULTILINE).group(1)
    assert "network" in kept_none and "service" in kept_none and "measure" in kept_none
    assert not re.search(r"^\| network \|", table, re.MULTILINE)


def test_write_remakes_a_stale_table_and_schema(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "reruns.md").write_text("intro\n<!-- lock-table -->\nSTALE-ROW\n<!-- /lock-table -->\nend\n")
    changed = reference.write(tmp_path)
    assert sorted(p.name for p in changed) == ["exercise.schema.json", "reruns.md"]
    text = (docs / "reruns.md").read_text()
    assert text.startswith("intro\n<!-- lock-table -->\n| step kind |") and text.endswith(
        "<!-- /lock-table -->\nend\n") and "STALE-ROW" not in text
    assert reference.write(tmp_path) == []  # a second write changes nothing


def test_a_page_without_markers_is_refused():
    with pytest.raises(ValueError, match="markers"):
        reference.with_lock_table("no table here\n")
