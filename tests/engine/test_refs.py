"""References are split as the Docker SDK splits them: the SDK's own functions are the oracle."""
from __future__ import annotations

import docker.auth
import docker.utils
import pytest

from tasks.engine import refs

REFS = ["python", "python:3.11", "library/python:3.11", "docker.io/library/python",
        "index.docker.io/library/python:3", "me/app:1", "127.0.0.1:5000/me/app:1",
        "127.0.0.1:5000/me/app", "localhost/app:2", "localhost:5000/a/b/c:d",
        "ghcr.io/owner/app@sha256:" + "a" * 64, "me/app:1@sha256:" + "b" * 64,
        "registry.example.com:443/x", "host.with.dots/app", "app@sha256:" + "c" * 64]


@pytest.mark.parametrize("ref", REFS)
def test_repository_tag_as_the_sdk(ref):
    assert refs.repository_tag(ref) == tuple(docker.utils.parse_repository_tag(ref))


@pytest.mark.parametrize("ref", REFS)
def test_registry_and_name_as_the_sdk(ref):
    repository = refs.repository_tag(ref)[0]
    assert refs.registry_and_name(repository) == \
        tuple(docker.auth.resolve_repository_name(repository))
