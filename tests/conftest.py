"""Test-suite wide: markers, and fixtures on the shared helpers (``tests/helpers.py``).

Tests under integration/ and reliability/ talk to the real engine and registry, and carry the
`integration` marker (`script/test -m "not integration"` skips them).
"""
from __future__ import annotations

from pathlib import Path

import pytest

REAL_PARTS = ("/integration/", "/reliability/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(part in str(item.fspath) for part in REAL_PARTS):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def engine():
    """The real engine; failing (not skipping) when none answers: script/test starts one."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means: no engine
        pytest.fail(f"no Docker Engine answers ({err}); run script/bootstrap first")
    return client


@pytest.fixture
def data() -> Path:
    """The example projects on disk, valid and broken (tests/data)."""
    return Path(__file__).parent / "data"


@pytest.fixture
def make_registry(tmp_path):
    made: list[Registry] = []

    def make(htpasswd: Path | None = None) -> "Registry":
        from clones import Registry, free_port

        registry = Registry(tmp_path / f"registry{len(made)}", free_port(), htpasswd)
        registry.root.mkdir()
        registry.start()
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.kill()
