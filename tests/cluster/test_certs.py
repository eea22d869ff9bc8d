"""The cluster's certificates, judged by Python's own TLS: a node's server certificate and
the project's client certificate complete a mutual handshake; a client without one, or with
one from another CA, does not; keys are the owner's alone."""
from __future__ import annotations

import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest

from tasks.cluster import certs

NODES = {"node-1": "127.0.0.1", "node-2": "172.29.53.12"}
REGISTRY = ("ac295-swarm-registry", "172.29.53.2")


@pytest.fixture
def tls(tmp_path: Path) -> Path:
    folder = certs.folder(tmp_path)
    assert certs.ensure(folder, NODES, REGISTRY) is True
    return folder


def handshake(server: certs.Files, client: certs.Files | None, host: str = "127.0.0.1",
              ca: Path | None = None) -> str:
    """A TLS server with ``server``'s certificate that asks for a client certificate from
    its CA, and a client showing ``client``'s (or none); "ok" or the client's error."""
    listener = socket.create_server(("127.0.0.1", 0))
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(server.ca))
    serving.load_cert_chain(str(server.cert), str(server.key))
    serving.verify_mode = ssl.CERT_REQUIRED

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with serving.wrap_socket(conn, server_side=True) as wrapped:
                wrapped.sendall(b"hello")
        except (ssl.SSLError, OSError):
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    asking = ssl.create_default_context(cafile=str(ca or server.ca))
    if client is not None:
        asking.load_cert_chain(str(client.cert), str(client.key))
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with asking.wrap_socket(raw, server_hostname=host) as wrapped:
                return "ok" if wrapped.recv(5) == b"hello" else "no answer"
    except (ssl.SSLError, OSError) as err:
        return type(err).__name__
    finally:
        thread.join(timeout=10)
        listener.close()


def test_a_node_and_the_project_complete_a_mutual_handshake(tls):
    assert handshake(certs.machine(tls, "node-1"), certs.project(tls)) == "ok"


def test_a_node_answers_nobody_without_a_certificate_from_its_ca(tls, tmp_path):
    assert handshake(certs.machine(tls, "node-1"), None) != "ok"
    other = certs.folder(tmp_path / "other")
    certs.ensure(other, NODES, REGISTRY)
    assert handshake(certs.machine(tls, "node-1"), certs.project(other)) != "ok"


def test_a_node_certificate_names_its_own_address_only(tls):
    # node-2's certificate is for 172.29.53.12: a client asking for 127.0.0.1 refuses it
    assert handshake(certs.machine(tls, "node-2"), certs.project(tls)) != "ok"
    assert handshake(certs.machine(tls, "node-2"), certs.project(tls),
                     host="ac295-swarm-node-2") == "ok"


def test_the_registry_asks_the_nodes_for_their_certificates(tls):
    registry = certs.machine(tls, "registry")
    assert handshake(registry, certs.machine(tls, "node-2"), host="ac295-swarm-registry") == "ok"
    assert handshake(registry, None, host="ac295-swarm-registry") != "ok"


def test_keys_are_the_owners_alone_and_a_second_ensure_changes_nothing(tls):
    keys = [tls / "ca-key.pem", tls / "key.pem", *(tls / n / "key.pem" for n in NODES),
            tls / "registry" / "key.pem"]
    assert all(stat.S_IMODE(k.stat().st_mode) == 0o600 for k in keys)
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    before = {p: p.read_bytes() for p in tls.rglob("*.pem")}
    assert certs.ensure(tls, NODES, REGISTRY) is False
    assert {p: p.read_bytes() for p in tls.rglob("*.pem")} == before


def test_a_lost_ca_means_new_certificates_for_everyone(tls):
    old = certs.fingerprint(tls)
    node = (tls / "node-1" / "cert.pem").read_bytes()
    (tls / "ca-key.pem").unlink()
    assert certs.ensure(tls, NODES, REGISTRY) is True
    assert certs.fingerprint(tls) != old
    assert (tls / "node-1" / "cert.pem").read_bytes() != node
    assert handshake(certs.machine(tls, "node-1"), certs.project(tls)) == "ok"


def test_remove_takes_the_folder(tls):
    assert certs.remove(tls) is True and not tls.exists()
    assert certs.remove(tls) is False


def test_a_node_at_a_new_address_gets_a_new_certificate_and_the_others_keep_theirs(tls):
    kept = (tls / "node-1" / "cert.pem").read_bytes()
    moved = certs.fingerprint(tls, "node-2")
    assert certs.ensure(tls, {**NODES, "node-2": "127.0.0.1"}, REGISTRY) is False
    assert (tls / "node-1" / "cert.pem").read_bytes() == kept
    assert certs.fingerprint(tls, "node-2") != moved
    assert handshake(certs.machine(tls, "node-2"), certs.project(tls)) == "ok"  # 127.0.0.1 now
