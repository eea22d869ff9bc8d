"""The engine view against a spec'd fake client: lookups, one listing, refresh, find_made."""
from __future__ import annotations

from typing import Any
from unittest import mock

import docker
import docker.errors
import pytest
import requests

from tasks.engine.client import LABEL_INPUTS, LABEL_TASK, Engine
from tasks.errors import EngineError

DIGEST = "sha256:" + "0123456789abcdef" * 4
OTHER_DIGEST = "sha256:" + "f" * 64


def image(image_id: str, tags: list[str] | None = None, digests: list[str] | None = None,
          labels: dict[str, str] | None = None) -> dict[str, Any]:
    """One entry of `GET /images/json`, as docker-py returns it (null lists included)."""
    return {"Id": image_id, "RepoTags": tags, "RepoDigests": digests, "Labels": labels}


PYTHON = image("sha256:py", ["python:latest", "python:3.11"], [f"python@{DIGEST}"])
APP = image("sha256:app", ["127.0.0.1:5000/me/app:1"])
DANGLING = image("sha256:old", ["<none>:<none>"], ["<none>@<none>"])


def fake_engine(listing: list[dict[str, Any]]) -> tuple[Engine, mock.Mock]:
    client = mock.Mock(spec=docker.DockerClient)
    client.api = mock.create_autospec(docker.APIClient, instance=True)
    client.api.images.return_value = listing
    return Engine(factory=lambda: client, project="/p/.ac295"), client


@pytest.mark.parametrize("ref, expected", [
    ("sha256:py", "sha256:py"),
    ("python", "sha256:py"),
    ("python:latest", "sha256:py"),
    ("docker.io/library/python:latest", "sha256:py"),
    ("docker.io/library/python", "sha256:py"),
    ("index.docker.io/library/python:3.11", "sha256:py"),
    ("library/python:3.11", "sha256:py"),
    (f"python@{DIGEST}", "sha256:py"),
    (f"docker.io/library/python@{DIGEST}", "sha256:py"),
    ("127.0.0.1:5000/me/app:1", "sha256:app"),
    ("127.0.0.1:5000/me/app", None),  # :latest is not there
    ("me/app:1", None),  # another registry's name
    ("python:3.12", None),
    (f"python@{OTHER_DIGEST}", None),
    ("<none>:<none>", None),
    ("sha256:nosuch", None),
])
def test_image_id(ref, expected):
    engine, _ = fake_engine([PYTHON, APP, DANGLING])
    assert engine.image_id(ref) == expected


def test_image_id_by_tag_and_digest_goes_by_the_digest():
    engine, _ = fake_engine([PYTHON])
    assert engine.image_id(f"python:3.11@{DIGEST}") == "sha256:py"


def test_images_are_listed_once_per_process():
    engine, client = fake_engine([PYTHON, APP])
    for ref in ["python", "sha256:app", "nosuch:1", f"python@{DIGEST}"] * 5:
        engine.image_id(ref)
    assert set(engine.images()) == {"sha256:py", "sha256:app"}
    client.api.images.assert_called_once_with()


def test_listing_drops_none_names():
    engine, _ = fake_engine([DANGLING])
    info = engine.images()["sha256:old"]
    assert (info.tags, info.repo_digests, info.labels) == ([], [], {})


def inspected(image_id: str, tags: list[str], labels: dict[str, str] | None = None) -> dict:
    return {"Id": image_id, "RepoTags": tags, "RepoDigests": [], "Config": {"Labels": labels}}


def test_refresh_moves_a_tag():
    engine, client = fake_engine([image("sha256:v1", ["me/app:1", "me/app:stable"]), PYTHON])
    assert engine.image_id("me/app:1") == "sha256:v1"
    client.api.inspect_image.return_value = inspected("sha256:v2", ["me/app:1"], {"k": "v"})
    info = engine.refresh("me/app:1")
    assert info is not None and (info.id, info.labels) == ("sha256:v2", {"k": "v"})
    assert engine.image_id("me/app:1") == "sha256:v2"
    assert engine.images()["sha256:v1"].tags == ["me/app:stable"]
    assert engine.image_id("python") == "sha256:py"
    client.api.inspect_image.assert_called_once_with("me/app:1")
    client.api.images.assert_called_once_with()


def test_refresh_of_a_removed_image_drops_it():
    engine, client = fake_engine([image("sha256:v1", ["me/app:1"])])
    client.api.inspect_image.side_effect = docker.errors.ImageNotFound("no such image")
    assert engine.refresh("sha256:v1") is None
    assert engine.image_id("sha256:v1") is None


def test_refresh_of_a_removed_tag_drops_the_tag():
    engine, client = fake_engine([image("sha256:v1", ["me/app:1"])])
    client.api.inspect_image.side_effect = docker.errors.ImageNotFound("no such image")
    assert engine.refresh("me/app:1") is None
    assert engine.image_id("me/app:1") is None


# --- find_made: the label nominates, the image's own top history entry decides --------------

OURS = {LABEL_INPUTS: "sha256:in", LABEL_TASK: "ex:image"}
BUILT_TOP = {"CreatedBy": "/bin/sh -c #(nop)  LABEL org.ac295.inputs-digest=sha256:in "
             "org.ac295.task=ex:image", "Comment": ""}
BASE_LAYER = {"CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / ", "Comment": ""}


@pytest.mark.parametrize("history", [
    [BUILT_TOP, BASE_LAYER],
    [{"CreatedBy": "LABEL org.ac295.task=ex:image org.ac295.inputs-digest=sha256:in"},
     BASE_LAYER],  # BuildKit's form, other label order
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
    [{"CreatedBy": "/bin/sh -c #(nop)  LABEL org.ac295.task=ex:other", "Comment": ""}],
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
