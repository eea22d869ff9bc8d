"""Image references split as the Docker SDK splits them, without importing the SDK.

A null build reads a few references per step; importing the SDK for two string functions
would cost a tenth of a second. These follow ``docker.utils.parse_repository_tag`` and
``docker.auth.resolve_repository_name`` (docker-py 7); a test holds them to the SDK's answers.
"""
from __future__ import annotations

HUB = "docker.io"


def repository_tag(ref: str) -> tuple[str, str | None]:
    """(repository, tag or ``sha256:...`` digest or None), as ``docker.utils`` splits them."""
    name, at, digest = ref.rpartition("@")
    if at:
        return name, digest
    name, colon, tag = ref.rpartition(":")
    if colon and "/" not in tag:
        return name, tag
    return ref, None


def registry_and_name(repository: str) -> tuple[str, str]:
    """(registry host[:port], name inside it), as ``docker.auth.resolve_repository_name``."""
    first, slash, rest = repository.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        return HUB, repository
    host = first
    if host == "index.docker.io":
        host = HUB
    return host, rest
