"""Test-suite wide: tests under integration/ and reliability/ talk to the real engine and
registry, and carry the `integration` marker (`script/test -m "not integration"` skips them)."""
from __future__ import annotations

import pytest

REAL_PARTS = ("/integration/", "/reliability/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(part in str(item.fspath) for part in REAL_PARTS):
            item.add_marker(pytest.mark.integration)
