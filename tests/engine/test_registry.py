"""Registries without a network: references, manifest HEADs, push/pull streams, the local one."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Sequence
from unittest import mock

import docker
import docker.errors
import pytest
import requests

from helpers import fake_engine as _fake_engine
from tasks.engine import registry
from tasks.engine.client import Engine
from tasks.engine.localregistry import LocalRegistry
from tasks.engine.registry import Reference
from tasks.errors import RegistryError

HEX = "0123456789abcdef" * 4
DIGEST = f"sha256:{HEX}"
HUB = "https://registry-1.docker.io"
LOCAL = Reference.parse("127.0.0.1:5000/a/b:c")


@pytest.mark.parametrize("ref, host, repository, tag, base_url, text", [
    ("maggie/x:1", "docker.io", "maggie/x", "1", HUB, "maggie/x:1"),
    ("python", "docker.io", "library/python", "latest", HUB, "library/python:latest"),
    ("docker.io/library/python:3.11", "docker.io", "library/python", "3.11", HUB,
     "library/python:3.11"),
    ("index.docker.io/x/y", "docker.io", "x/y", "latest", HUB, "x/y:latest"),
    ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", "c", "http://127.0.0.1:5000",
     "127.0.0.1:5000/a/b:c"),
    ("localhost:5000/a", "localhost:5000", "a", "latest", "http://localhost:5000",
     "localhost:5000/a:latest"),
    ("ghcr.io/o/r:v", "ghcr.io", "o/r", "v", "https://ghcr.io", "ghcr.io/o/r:v"),
    (f"name@{DIGEST}", "docker.io", "library/name", DIGEST, HUB, f"library/name@{DIGEST}"),
])
def test_reference_parse(ref, host, repository, tag, base_url, text):
    parsed = Reference.parse(ref)
    assert (parsed.registry, parsed.repository, parsed.tag) == (host, repository, tag)
    assert parsed.base_url == base_url
    assert str(parsed) == text
    assert parsed.by_digest == ("@" in ref)


def test_reference_with_tag_and_digest_goes_by_the_digest():
    parsed = Reference.parse(f"python:3.11-slim@{DIGEST}")
    assert (parsed.repository, parsed.tag) == ("library/python", DIGEST)


# --- manifest_digest against a fake HTTP layer -----------------------------------------------

def response(status: int, headers: dict[str, str] | None = None,
             body: Any = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.headers.update(headers or {})
    answer._content = json.dumps(body).encode() if body is not None else b""
    return answer


@pytest.fixture
def http(monkeypatch):
    """Install a fake requests.head/get answering from lists; return the requests made."""
    def install(heads: list[Any], gets: Sequence[Any] = ()) -> list[tuple[str, str, dict]]:
        calls: list[tuple[str, str, dict[str, Any]]] = []
        answers = {"HEAD": list(heads), "GET": list(gets)}

        def fake(method: str) -> Callable[..., requests.Response]:
            def answer(url: str, **kwargs: Any) -> requests.Response:
                # headers copied: manifest_digest reuses its dict for the retry
                calls.append((method, url, {**kwargs, "headers": dict(kwargs.get("headers", {}))}))
                reply = answers[method].pop(0)
                if isinstance(reply, Exception):
                    raise reply
                return reply
            return answer

        monkeypatch.setattr(requests, "head", fake("HEAD"))  # registry imports it when asking
        monkeypatch.setattr(requests, "get", fake("GET"))
        monkeypatch.setattr(registry, "_credentials", lambda host: ("maggie", f"pw-{host}"))
        return calls
    return install


def test_manifest_digest_from_header(http):
    calls = http([response(200, {"Docker-Content-Digest": DIGEST})])
    assert registry.manifest_digest(LOCAL) == DIGEST
    [(method, url, kwargs)] = calls
    assert (method, url) == ("HEAD", "http://127.0.0.1:5000/v2/a/b/manifests/c")
    assert "application/vnd.oci.image.index.v1+json" in kwargs["headers"]["Accept"]
    assert "Authorization" not in kwargs["headers"]


def test_no_such_tag_is_none(http):
    http([response(404)])
    assert registry.manifest_digest(LOCAL) is None


BEARER = 'Bearer realm="{}",service="registry.docker.io",scope="repository:maggie/x:pull"'


def test_bearer_challenge_fetches_a_token_and_retries(http):
    calls = http([response(401, {"WWW-Authenticate": BEARER.format("https://auth.docker.io/t")}),
                 response(200, {"Docker-Content-Digest": DIGEST})],
                [response(200, body={"token": "t0k"})])
    assert registry.manifest_digest(Reference.parse("maggie/x:1")) == DIGEST
    (_, first, _), (_, realm, token), (_, second, retry) = calls
    assert first == second == f"{HUB}/v2/maggie/x/manifests/1"
    assert realm == "https://auth.docker.io/t"
    assert token["params"] == {"service": "registry.docker.io", "scope": "repository:maggie/x:pull"}
    assert token["auth"] == ("maggie", "pw-docker.io")
    assert retry["headers"]["Authorization"] == "Bearer t0k"


@pytest.mark.parametrize("realm, auth", [
    ("https://auth.example/token", ("maggie", "pw-127.0.0.1:5000")),
    ("http://127.0.0.1:5000/token", ("maggie", "pw-127.0.0.1:5000")),
    ("http://auth.example/token", None),  # plain HTTP elsewhere: no credentials
    ("http://127.0.0.1:5001/token", None),
])
def test_credentials_go_only_to_a_trusted_realm(http, realm, auth):
    calls = http([response(401, {"WWW-Authenticate": f'Bearer realm="{realm}"'}),
                 response(200, {"Docker-Content-Digest": DIGEST})],
                [response(200, body={"access_token": "t0k"})])
    assert registry.manifest_digest(LOCAL) == DIGEST
    method, url, kwargs = calls[1]
    assert (method, url, kwargs["auth"]) == ("GET", realm, auth)
    assert kwargs["params"] == {"scope": "repository:a/b:pull"}


def test_basic_challenge_retries_with_credentials(http):
    calls = http([response(401, {"WWW-Authenticate": 'Basic realm="registry"'}),
                 response(200, {"Docker-Content-Digest": DIGEST})])
    assert registry.manifest_digest(LOCAL) == DIGEST
    _, (_, _, retry) = calls
    assert retry["auth"] == ("maggie", "pw-127.0.0.1:5000")
    assert "Authorization" not in retry["headers"]


@pytest.mark.parametrize("answers, words", [
    ([response(403)], "HTTP 403"),
    ([response(401, {"WWW-Authenticate": 'Basic realm="r"'}), response(401)], "HTTP 401"),
    ([response(500)], "HTTP 500"),
    ([requests.ConnectionError("refused")], "does not answer (ConnectionError)"),
    ([requests.ReadTimeout("slow")], "does not answer (ReadTimeout)"),
])
def test_refusals_and_failures_are_registry_errors(http, answers, words):
    http(answers)
    with pytest.raises(RegistryError) as info:
        registry.manifest_digest(LOCAL)
    message = str(info.value)
    assert words in message and "127.0.0.1:5000" in message
    assert "\n" not in message and "pw-" not in message


# --- push and pull streams -----------------------------------------------------------------

def fake_engine() -> tuple[Engine, mock.Mock]:
    engine, client = _fake_engine()
    return engine, client.api


PUSHED = [{"status": "The push refers to repository [127.0.0.1:5000/a/b]"},
          {"status": "Preparing", "id": "l1"},
          {"status": "Pushing", "id": "l1", "progressDetail": {"current": 1, "total": 2}},
          {"status": "Pushed", "id": "l1"}, {"status": "Layer already exists", "id": "l2"},
          {"status": "Pushed", "id": "l3"}, {"status": f"c: digest: {DIGEST} size: 528"}]
AUX = {"progressDetail": {}, "aux": {"Tag": "c", "Digest": DIGEST, "Size": 528}}
DENIED = {"errorDetail": {"message": "denied: requested access to the resource is denied"},
          "error": "denied"}


def test_push_returns_digest_and_uploads():
    engine, api = fake_engine()
    api.push.return_value = iter(PUSHED + [AUX])
    lines: list[str] = []
    assert registry.push(engine, "127.0.0.1:5000/a/b:c", lines.append) == (DIGEST, 2)
    api.push.assert_called_once_with("127.0.0.1:5000/a/b", tag="c", stream=True, decode=True)
    assert lines == ["\rl1: Pushing 0.0/0.0 MB",  # a meter: in place on a terminal only
                     "l1: Pushed", "l2: Layer already exists", "l3: Pushed"]


@pytest.mark.parametrize("side_effect, words", [
    ([PUSHED[:3] + [DENIED] + PUSHED[3:] + [AUX]], "requested access to the resource is denied"),
    ([PUSHED], "without a digest"),
    (docker.errors.APIError("boom", explanation="no such image"), "no such image"),
], ids=["error chunk", "no digest", "engine refuses"])
def test_push_failures_are_registry_errors(side_effect, words):
    engine, api = fake_engine()
    api.push.side_effect = side_effect  # [the stream push returns], or what it raises
    with pytest.raises(RegistryError, match=words):
        registry.push(engine, "127.0.0.1:5000/a/b:c", lambda line: None)


def test_error_chunk_in_a_pull_stream_fails_it():
    engine, api = fake_engine()
    api.pull.return_value = iter([{"status": "Pulling from library/python", "id": "3.99"},
                                  {"error": "manifest unknown", "errorDetail": {
                                      "message": "manifest for python:3.99 not found"}}])
    with pytest.raises(RegistryError, match="manifest for python:3.99 not found"):
        registry.pull(engine, "python:3.99", lambda line: None)
    api.pull.assert_called_once_with("python", tag="3.99", stream=True, decode=True)
    api.inspect_image.assert_not_called()


# --- the local registry --------------------------------------------------------------------

def stored(root: Path, rel: str, text: str) -> None:
    link = root / "data/docker/registry/v2/repositories/a/b/_manifests" / rel
    link.parent.mkdir(parents=True)
    link.write_text(text)


def test_tag_link_reads_storage(tmp_path):
    local = LocalRegistry(root=tmp_path, port=5000)
    assert local.tag_link(LOCAL) is None
    stored(tmp_path, "tags/c/current/link", f"{DIGEST}\n")
    stored(tmp_path, f"revisions/sha256/{HEX}/link", DIGEST)
    stored(tmp_path, "tags/empty/current/link", "")
    assert local.tag_link(LOCAL) == DIGEST
    assert local.tag_link(Reference.parse(f"127.0.0.1:5000/a/b@{DIGEST}")) == DIGEST
    assert local.tag_link(Reference.parse(f"127.0.0.1:5000/a/b@sha256:{'f' * 64}")) is None
    assert local.tag_link(Reference.parse("127.0.0.1:5000/a/b:empty")) is None


@pytest.fixture
def registry_lookalike(tmp_path):
    """A process whose command line is `docker-registry serve <config>`: sh runs the script
    file ``serve``, a `read` waiting for stdin; no registry runs."""
    (tmp_path / "serve").write_text("read line\n")
    config = tmp_path / "config.yml"
    process = subprocess.Popen(["docker-registry", "serve", str(config)], executable="/bin/sh",
                               cwd=tmp_path, stdin=subprocess.PIPE)
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while not cmdline.read_bytes() and time.monotonic() < deadline:  # exec still under way
        time.sleep(0.01)
    yield process.pid
    process.stdin.close()  # type: ignore[union-attr]
    process.wait(timeout=10)


@pytest.mark.parametrize("pidfile", [None, "", "not a pid\n", f"{os.getpid()}\n"])
def test_ours_is_false_without_our_registry_process(tmp_path, pidfile):
    local = LocalRegistry(root=tmp_path, port=5000)
    if pidfile is not None:
        local.pidfile.write_text(pidfile)
    assert local.ours() is False


def test_ours_checks_the_process_and_its_config(tmp_path, registry_lookalike):
    local = LocalRegistry(root=tmp_path, port=5000)
    local.pidfile.write_text(f"{registry_lookalike}\n")
    assert local.ours() is True
    other = LocalRegistry(root=tmp_path / "other", port=5000)
    other.root.mkdir()
    other.pidfile.write_text(f"{registry_lookalike}\n")
    assert other.ours() is False  # a docker-registry, but serving another config


def test_served_digest_refuses_a_foreign_registry(tmp_path, monkeypatch):
    monkeypatch.setattr(LocalRegistry, "answers", lambda self: True)
    monkeypatch.setattr(LocalRegistry, "ours", lambda self: False)
    stored(tmp_path, "tags/c/current/link", DIGEST)
    with pytest.raises(RegistryError, match="127.0.0.1:5123"):
        LocalRegistry(root=tmp_path, port=5123).served_digest(LOCAL)


@pytest.mark.parametrize("running", [True, False])
def test_served_digest_reads_storage_running_or_not(tmp_path, monkeypatch, running):
    """Its storage is what our registry serves: no request, whether it runs or not."""
    monkeypatch.setattr(LocalRegistry, "answers", lambda self: running)
    monkeypatch.setattr(LocalRegistry, "ours", lambda self: running)

    def no_request(ref):
        raise AssertionError("asked the registry")

    monkeypatch.setattr(registry, "manifest_digest", no_request)
    stored(tmp_path, "tags/c/current/link", DIGEST)
    assert LocalRegistry(root=tmp_path, port=5000).served_digest(LOCAL) == DIGEST


# --- a second tag on a pushed manifest, copied inside the registry --------------------------

MANIFEST = b'{"schemaVersion": 2, "layers": []}'
KIND = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def manifests(monkeypatch):
    """A fake registry for copy_tag: GET answers from ``got``, PUT from ``put``; the calls."""
    def install(got: Any, put: Any = None) -> list[tuple[str, str, dict]]:
        calls: list[tuple[str, str, dict]] = []

        def answer(method: str, reply: Any) -> Callable[..., requests.Response]:
            def call(url: str, **kwargs: Any) -> requests.Response:
                calls.append((method, url, kwargs))
                if isinstance(reply, Exception):
                    raise reply
                return reply
            return call

        monkeypatch.setattr(requests, "get", answer("GET", got))
        monkeypatch.setattr(requests, "put", answer("PUT", put))
        return calls
    return install


def manifest_response(digest: str = DIGEST) -> requests.Response:
    answer = response(200, {"Docker-Content-Digest": digest, "Content-Type": KIND})
    answer._content = MANIFEST
    return answer


def test_copy_tag_puts_the_same_bytes_under_the_new_tag(manifests):
    calls = manifests(manifest_response(), response(201, {"Docker-Content-Digest": DIGEST}))
    assert registry.copy_tag(LOCAL, "in-0123", DIGEST) is True
    [(_, got, get_kwargs), (_, put, put_kwargs)] = calls
    assert got == "http://127.0.0.1:5000/v2/a/b/manifests/c"
    assert KIND in get_kwargs["headers"]["Accept"]
    assert put == "http://127.0.0.1:5000/v2/a/b/manifests/in-0123"
    assert put_kwargs["data"] == MANIFEST and put_kwargs["headers"] == {"Content-Type": KIND}


@pytest.mark.parametrize("got, put", [
    (manifest_response("sha256:" + "f" * 64), None),  # the tag moved since the push
    (response(401), None),  # credentials wanted: the engine pushes
    (manifest_response(), response(401)),
    (manifest_response(), response(201, {"Docker-Content-Digest": "sha256:" + "e" * 64})),
    (requests.ConnectionError("down"), None),
], ids=["moved", "get 401", "put 401", "other digest", "unreachable"])
def test_copy_tag_says_false_when_the_engine_must_push(manifests, got, put):
    manifests(got, put)
    assert registry.copy_tag(LOCAL, "in-0123", DIGEST) is False
