"""The boundary where the Docker SDK's failures become the project's: exceptions, and error
chunks inside streams that answered HTTP 200 (build, push, pull), read by one helper."""
from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

from helpers import DIGEST, fake_engine
from tasks.engine import images, registry
from tasks.engine.boundary import stream_error, translated
from tasks.errors import BuildError, EngineError, RegistryError


@pytest.mark.parametrize("chunk, error", [
    ({"status": "Pushed", "id": "l1"}, None),
    ({"stream": "Step 1/2 : FROM base\n"}, None),
    ({"aux": {"Digest": DIGEST}}, None),
    ({"status": "Downloading", "progressDetail": {"current": 1, "total": 2}}, None),
    ({"status": "error", "id": "l1"}, None),  # a status that says "error" is no error chunk
    ({"error": "denied", "errorDetail": {"message": "denied: access to the resource is denied"}},
     "denied: access to the resource is denied"),  # the fuller message wins
    ({"errorDetail": {"message": "manifest unknown"}}, "manifest unknown"),  # errorDetail only
    ({"error": "no space left on device"}, "no space left on device"),  # error only
    ({"errorDetail": "unexpected EOF"}, "unexpected EOF"),  # a detail that is a plain text
    ({"error": "", "errorDetail": {}}, "the engine reported an error without a message"),
])
def test_stream_error_finds_failures_and_only_failures(chunk, error):
    assert stream_error(chunk) == error


ONLY_DETAIL = {"errorDetail": {"message": "blob upload unknown"}}
PUSHED = [{"status": "Preparing", "id": "l1"}, {"status": "Pushed", "id": "l1"},
          {"status": f"c: digest: {DIGEST} size: 528"},
          {"progressDetail": {}, "aux": {"Tag": "c", "Digest": DIGEST, "Size": 528}}]


def test_a_normal_push_stream_passes():
    engine, client = fake_engine()
    client.api.push.return_value = iter(PUSHED)
    assert registry.push(engine, "127.0.0.1:5000/a/b:c", lambda line: None) == (DIGEST, 1)


@pytest.mark.parametrize("bad", [ONLY_DETAIL, {"error": "blob upload unknown"}],
                         ids=["errorDetail only", "error only"])
def test_an_error_chunk_in_a_200_push_stream_is_a_failure(bad):
    engine, client = fake_engine()
    client.api.push.return_value = iter(PUSHED[:2] + [bad] + PUSHED[2:])  # a digest after it
    with pytest.raises(RegistryError, match="pushing 127.0.0.1:5000/a/b:c failed: blob upload"):
        registry.push(engine, "127.0.0.1:5000/a/b:c", lambda line: None)


def test_an_error_detail_alone_fails_a_pull():
    engine, client = fake_engine()
    client.api.pull.return_value = iter([{"status": "Pulling fs layer", "id": "l1"},
                                         {"errorDetail": {"message": "unauthorized"}}])
    with pytest.raises(RegistryError, match="pulling 127.0.0.1:5000/a/b:c failed: unauthor"):
        registry.pull(engine, "127.0.0.1:5000/a/b:c", lambda line: None)
    client.api.inspect_image.assert_not_called()


def test_an_error_detail_alone_fails_a_build(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM base\n")
    engine, client = fake_engine()
    client.api.build.return_value = iter([{"stream": "Step 1/1 : FROM base\n"},
                                          {"errorDetail": {"message": "no space left"}},
                                          {"aux": {"ID": DIGEST}}])
    with pytest.raises(BuildError, match="no space left"):
        images.build(engine, tmp_path, tmp_path / "Dockerfile", "me/app:1", {}, {}, "ex:image",
                     lambda line: None)


def test_an_error_line_fails_an_import(tmp_path):
    tarball = tmp_path / "root.tar"
    tarball.write_bytes(b"")
    engine, client = fake_engine()
    client.api.import_image_from_file.return_value = (
        '{"status":"Importing"}\r\n{"errorDetail":{"message":"archive/tar: invalid header"}}')
    with pytest.raises(BuildError, match="archive/tar: invalid header"):
        images.import_tarball(engine, tarball, "base:1", [], "base:image", lambda line: None)


@pytest.mark.parametrize("error, words", [
    (docker.errors.APIError("409 Conflict", explanation="name in use"), "refused: name in use"),
    (docker.errors.DockerException("Error while fetching server API version"), "API version"),
    (requests.ConnectionError("Connection aborted"), "(ConnectionError); is dockerd still"),
])
def test_library_exceptions_leave_as_engine_errors(error, words):
    @translated
    def call(*args: Any) -> None:
        raise error

    with pytest.raises(EngineError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_anything_else_is_a_bug_and_keeps_its_type():
    @translated
    def call() -> None:
        raise KeyError("Id")

    with pytest.raises(KeyError):
        call()
