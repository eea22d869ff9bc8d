"""Image lookups against the real engine: the project's direct socket requests answer as the
SDK does, and names resolve as `docker run` resolves them."""
from __future__ import annotations

import io
import os
import tarfile

import docker
import pytest

from tasks.engine.client import Engine

NAME = f"ac295lookup{os.getpid()}"


@pytest.fixture(scope="module")
def made(engine):
    """A one-file image tagged NAME:1 and NAME:latest; removed afterwards."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    engine.api.import_image_from_data(data.getvalue(), repository=NAME, tag="1")
    image = engine.images.get(f"{NAME}:1")
    image.tag(NAME, "latest")
    yield image
    for tag in (f"{NAME}:1", f"{NAME}:latest"):
        try:
            engine.images.remove(tag, force=True)
        except docker.errors.NotFound:
            pass


@pytest.mark.parametrize("ref, found", [
    ("{name}:1", True), ("{name}", True), ("docker.io/library/{name}:1", True),
    ("library/{name}:1", True), ("index.docker.io/library/{name}:latest", True),
    ("{id}", True), ("{name}:2", False), ("127.0.0.1:5000/{name}:1", False),
    ("sha256:" + "0" * 64, False),
])
def test_names_resolve_as_the_engine_resolves_them(made, ref, found):
    ref = ref.format(name=NAME, id=made.id)
    direct = Engine(project="/p")  # the stdlib request on the local socket
    sdk = Engine(factory=docker.from_env, project="/p")  # the SDK: the oracle
    assert direct._socket() is not None and sdk._socket() is None
    assert direct.image_id(ref) == sdk.image_id(ref) == (made.id if found else None)
    if found:
        one, other = direct.info(ref), sdk.info(ref)
        assert one == other
        assert sorted(one.tags) == sorted([f"{NAME}:1", f"{NAME}:latest"])
