"""The engine view against a spec'd fake client: lookups, one listing, refresh, find_made.

How the engine resolves names (``python`` is ``docker.io/library/python:latest``) is the
engine's: tests/integration/test_engine_lookups.py asks the real one."""
from __future__ import annotations

from typing import Any
from unittest import mock

import docker
import docker.errors
import pytest
import requests

from tasks.engine.client import LABEL_MADE, Engine
from tasks.errors import EngineError

DIGEST = "sha256:" + "0123456789abcdef" * 4
OURS = {LABEL_MADE: "sha256:in ex:image /p/.ac295"}
OTHER_DIGEST = "sha256:" + "f" * 64


def image(image_id: str, tags: list[str] | None = None, digests: list[str] | None = None,
          labels: dict[str, str] | None = None) -> dict[str, Any]:
    """One entry of `GET /images/json`, as docker-py returns it (null lists included)."""
    return {"Id": image_id, "RepoTags": tags, "RepoDigests": digests, "Labels": labels}


def inspected(image_id: str, tags: list[str] | None, labels: dict[str, str] | None = None,
              digests: list[str] | None = None) -> dict:
    """What `GET /images/{ref}/json` answers (null lists included)."""
    return {"Id": image_id, "RepoTags": tags, "RepoDigests": digests,
            "Config": {"Labels": labels}, "Created": "2026-11-29T10:00:00.123456789Z",
            "Size": 7}


PYTHON = image("sha256:py", ["python:latest", "python:3.11"], [f"python@{DIGEST}"])
APP = image("sha256:app", ["127.0.0.1:5000/me/app:1"])
DANGLING = image("sha256:old", ["<none>:<none>"], ["<none>@<none>"])


def fake_engine(listing: list[dict[str, Any]], answers: dict[str, dict] | None = None
                ) -> tuple[Engine, mock.Mock]:
    """An engine over a spec'd fake client: ``listing`` for `GET /images/json`, ``answers``
    (by the reference asked) for `GET /images/{ref}/json`; the engine resolves names, so
    a fake only answers the references it was given."""
    client = mock.Mock(spec=docker.DockerClient)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    client.api.images.return_value = listing

    def inspect_image(ref: str) -> dict:
        if answers is None or ref not in answers:
            raise docker.errors.ImageNotFound(f"No such image: {ref}")
        return answers[ref]

    client.api.inspect_image.side_effect = inspect_image
    return Engine(factory=lambda: client, project="/p/.ac295"), client


def test_info_reads_the_inspect_and_drops_none_names():
    engine, _ = fake_engine([], {"python:3.11": inspected(
        "sha256:py", ["python:3.11", "<none>:<none>"], {"k": "v"}, ["<none>@<none>"])})
    info = engine.info("python:3.11")
    assert info is not None
    assert (info.id, info.tags, info.repo_digests, info.labels, info.size) == \
        ("sha256:py", ["python:3.11"], [], {"k": "v"}, 7)
    assert info.created == 1795946400  # 2026-11-29T10:00:00Z, the fraction dropped


def test_a_missing_image_is_none():
    engine, _ = fake_engine([], {})
    assert engine.info("nosuch:1") is None and engine.image_id("nosuch:1") is None


def test_each_reference_is_asked_once_per_process():
    engine, client = fake_engine([], {"python": inspected("sha256:py", ["python:latest"]),
                                      "sha256:py": inspected("sha256:py", ["python:latest"])})
    for ref in ["python", "sha256:py", "nosuch:1"] * 5:
        engine.image_id(ref)
    # the id is known from the answer about the name: not asked again
    assert sorted(c.args[0] for c in client.api.inspect_image.call_args_list) == \
        ["nosuch:1", "python"]


def test_an_engine_error_while_inspecting_is_an_engine_error():
    engine, client = fake_engine([])
    client.api.inspect_image.side_effect = docker.errors.APIError("500 Server Error")
    with pytest.raises(EngineError, match="refused"):
        engine.info("python")


def test_the_listing_holds_only_images_this_project_made_and_is_made_once():
    engine, client = fake_engine([image("sha256:ours", ["me/app:1"], labels=OURS), DANGLING])
    for _ in range(3):
        listed = engine.images()
    assert set(listed) == {"sha256:ours", "sha256:old"}
    assert (listed["sha256:old"].tags, listed["sha256:old"].repo_digests) == ([], [])
    client.api.images.assert_called_once_with(filters={"label": LABEL_MADE})


def test_refresh_moves_a_tag():
    engine, client = fake_engine([image("sha256:v1", ["me/app:1"], labels=OURS)],
                                 {"me/app:1": inspected("sha256:v1", ["me/app:1"], OURS)})
    assert engine.image_id("me/app:1") == "sha256:v1"
    engine.images()
    client.api.inspect_image.side_effect = None
    client.api.inspect_image.return_value = inspected("sha256:v2", ["me/app:1"], OURS)
    info = engine.refresh("me/app:1")
    assert info is not None and info.id == "sha256:v2"
    assert engine.image_id("me/app:1") == "sha256:v2"
    assert set(engine.images()) == {"sha256:v1", "sha256:v2"}  # v2 joins the listing
    client.api.images.assert_called_once()


def test_refresh_of_a_removed_image_drops_it():
    engine, client = fake_engine([], {"me/app:1": inspected("sha256:v1", ["me/app:1"])})
    assert engine.image_id("me/app:1") == "sha256:v1"
    client.api.inspect_image.side_effect = docker.errors.ImageNotFound("no such image")
    assert engine.refresh("me/app:1") is None
    assert engine.image_id("me/app:1") is None


# --- find_made: the label nominates, the image's own top history entry decides --------------

BUILT_TOP = {"CreatedBy": "/bin/sh -c #(nop)  LABEL org.ac295.made=sha256:in ex:image "
             "/p/.ac295", "Comment": ""}
BASE_LAYER = {"CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / ", "Comment": ""}


@pytest.mark.parametrize("history", [
    [BUILT_TOP, BASE_LAYER],
    [{"CreatedBy": 'LABEL org.ac295.made="sha256:in ex:image /p/.ac295"'},
     BASE_LAYER],  # BuildKit's form, quoted
    [{"CreatedBy": "/bin/sh -c pip install flask", "Comment": "ac295 ex:image"}, BASE_LAYER],
    [{"CreatedBy": "", "Comment": "Imported from -"}],
], ids=["build", "buildkit", "commit", "import"])
def test_find_made_accepts_our_own_image(history):
    engine, client = fake_engine([PYTHON, image("sha256:ours", ["me/app:1"], labels=OURS)])
    client.api.history.return_value = history
    info = engine.find_made("sha256:in", "ex:image")
    assert info is not None and info.id == "sha256:ours"
    client.api.history.assert_called_once_with("sha256:ours")


@pytest.mark.parametrize("history", [
    [{"CreatedBy": '/bin/sh -c #(nop)  CMD ["serve"]', "Comment": ""}, BUILT_TOP, BASE_LAYER],
    [{"CreatedBy": "/bin/sh -c echo hi > /x", "Comment": ""},
     {"CreatedBy": "", "Comment": "Imported from -"}],
    [{"CreatedBy": "bash", "Comment": "mine"},
     {"CreatedBy": "/bin/sh -c pip install flask", "Comment": "ac295 ex:image"}],
    [{"CreatedBy": "/bin/sh -c #(nop)  LABEL org.ac295.made=sha256:in ex:other /p/.ac295",
      "Comment": ""}],
    [{"CreatedBy": "", "Comment": "Imported from -"}, BASE_LAYER],  # an import has one layer
    [],
], ids=["child of a build", "child of an import", "child of a commit", "another task's label",
        "import comment on layers", "no history"])
def test_find_made_rejects_an_image_that_inherited_our_labels(history):
    engine, client = fake_engine([image("sha256:child", ["me/child:1"], labels=OURS)])
    client.api.history.return_value = history
    assert engine.find_made("sha256:in", "ex:image") is None


def test_find_made_skips_a_child_for_its_parent():
    engine, client = fake_engine([image("sha256:child", ["me/child:1"], labels=OURS),
                                  image("sha256:ours", ["me/app:1"], labels=OURS)])
    client.api.history.side_effect = lambda image_id: {
        "sha256:child": [{"CreatedBy": '/bin/sh -c #(nop)  CMD ["serve"]'}, BUILT_TOP],
        "sha256:ours": [BUILT_TOP, BASE_LAYER]}[image_id]
    info = engine.find_made("sha256:in", "ex:image")
    assert info is not None and info.id == "sha256:ours"


@pytest.mark.parametrize("digest, task", [("sha256:other", "ex:image"), ("sha256:in", "ex:x")])
def test_find_made_needs_both_labels(digest, task):
    engine, client = fake_engine([image("sha256:ours", ["me/app:1"], labels=OURS)])
    client.api.history.return_value = [BUILT_TOP]
    assert engine.find_made(digest, task) is None
    client.api.history.assert_not_called()


def test_a_listed_image_removed_since_is_not_found_made():
    """A resident process keeps the listing across rounds (``forget_lookups``): an image
    removed since is confirmed gone by its history, not taken."""
    engine, client = fake_engine([image("sha256:ours", ["me/app:1"], labels=OURS)])
    client.api.history.side_effect = docker.errors.ImageNotFound("gone")
    assert engine.find_made("sha256:in", "ex:image") is None


def test_forget_lookups_keeps_the_listing_and_forgets_names():
    engine, client = fake_engine([image("sha256:ours", ["me/app:1"], labels=OURS)])
    engine.images()
    engine.image_id("me/app:1")
    engine.forget_lookups()
    engine.images()
    engine.image_id("me/app:1")
    assert client.api.images.call_count == 1
    assert client.api.inspect_image.call_count == 2


# --- the client: made and pinged once; a missing engine is an EngineError ------------------

def test_client_is_made_and_pinged_once():
    engine, client = fake_engine([PYTHON])
    factory = mock.Mock(return_value=client)
    engine.factory = factory
    assert engine.client is client and engine.client is client
    engine.image_id("python")
    factory.assert_called_once_with()
    client.ping.assert_called_once_with()


@pytest.mark.parametrize("error, words", [
    (docker.errors.DockerException("Error while fetching server API version"),
     "Error while fetching server API version"),
    (requests.ConnectionError("socket gone"), "ConnectionError"),
])
def test_a_failing_factory_is_an_engine_error(monkeypatch, error, words):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.9:2375")
    engine = Engine(factory=mock.Mock(side_effect=error), project="/p/.ac295")
    with pytest.raises(EngineError) as info:
        engine.image_id("python")
    message = str(info.value)
    assert "DOCKER_HOST" in message and "tcp://10.0.0.9:2375" in message and words in message


def test_a_failing_ping_is_an_engine_error(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    engine, client = fake_engine([])
    client.ping.side_effect = docker.errors.APIError("500 Server Error")
    with pytest.raises(EngineError, match="unix:///var/run/docker.sock.*DOCKER_HOST"):
        engine.client


def test_find_made_asks_the_hint_first_and_lists_nothing():
    ours = inspected("sha256:ours", ["me/app:in-0123"], OURS)
    engine, client = fake_engine([image("sha256:ours", ["me/app:in-0123"], labels=OURS)],
                                 {"me/app:in-0123": ours})
    client.api.history.return_value = [BUILT_TOP, BASE_LAYER]
    info = engine.find_made("sha256:in", "ex:image", hint="me/app:in-0123")
    assert info is not None and info.id == "sha256:ours"
    client.api.images.assert_not_called()


@pytest.mark.parametrize("hint", ["me/app:in-gone", "me/app:in-other"])
def test_find_made_lists_when_the_hint_is_missing_or_not_it(hint):
    other = {LABEL_MADE: "sha256:else ex:image /p/.ac295"}
    engine, client = fake_engine([image("sha256:ours", ["x/y:1"], labels=OURS)],
                                 {"me/app:in-other": inspected("sha256:o", [], other)})
    client.api.history.return_value = [BUILT_TOP, BASE_LAYER]
    info = engine.find_made("sha256:in", "ex:image", hint=hint)
    assert info is not None and info.id == "sha256:ours"
    client.api.images.assert_called_once()


def test_server_is_what_the_engine_says_of_itself():
    client = mock.Mock(spec=docker.DockerClient)
    client.info.return_value = {"ServerVersion": "20.10.24", "Driver": "overlay2"}
    assert Engine(factory=lambda: client).server() == {"ServerVersion": "20.10.24",
                                                       "Driver": "overlay2"}
    client.info.side_effect = docker.errors.APIError("500 Server Error")
    with pytest.raises(EngineError, match="500 Server Error"):
        Engine(factory=lambda: client).server()


# --- lookups on the engine's socket: HTTP/1.0, without http.client -------------------------

def _serve_once(tmp_path, answer: bytes) -> tuple[str, list[bytes]]:
    """A unix socket that answers one request with ``answer``; the requests it read."""
    import socket
    import threading

    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        seen.append(conn.recv(4096))
        conn.sendall(answer)
        conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return path, seen


def test_unix_get_reads_status_and_body(tmp_path):
    from tasks.engine.client import unix_get

    body = b'{"Id": "sha256:x"}' * 5000  # more than one read
    path, seen = _serve_once(tmp_path, b"HTTP/1.0 200 OK\r\nContent-Type: application/json"
                             b"\r\n\r\n" + body)
    assert unix_get(path, "/v1.41/images/a:b/json") == (200, body)
    assert seen[0].startswith(b"GET /v1.41/images/a:b/json HTTP/1.0\r\n")


def test_unix_get_refuses_what_is_not_http(tmp_path):
    from tasks.engine.client import unix_get

    path, _ = _serve_once(tmp_path, b"SSH-2.0-OpenSSH\r\n")
    with pytest.raises(OSError, match="not an HTTP answer"):
        unix_get(path, "/x")
