"""The cluster's certificates: a small CA, a certificate per node and for its registry, one
client certificate for the project; made with openssl (Debian's), kept in the state folder.

    <state>/cluster/tls/            mode 0700
        ca.pem  ca-key.pem          the CA (its key signs nothing else, and stays here)
        cert.pem  key.pem           the project's client certificate: what talks to the nodes
        node-<i>/ ca.pem cert.pem key.pem     node i's dockerd (server), and what it shows
                                              the registry (client); mounted into node i
        registry/ ca.pem cert.pem key.pem     the registry the nodes pull from (server)

Every key is mode 0600. A node's engine listens on ``tcp://<its address>:2376`` with
``--tlsverify``: only a client with a certificate from this CA gets an answer; the registry
asks the same of the nodes. ``up`` makes what is missing (a new CA means new certificates for
everything), ``down`` removes the folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ClusterError

DAYS = "825"  # what clients accept for a server certificate; a cluster is made again sooner


@dataclass(frozen=True)
class Files:
    """A certificate with its key, and the CA that signed it (paths)."""

    ca: Path
    cert: Path
    key: Path


def folder(state: Path) -> Path:
    return state / "cluster" / "tls"


def project(tls: Path) -> Files:
    """The project's client certificate in ``tls``."""
    return Files(tls / "ca.pem", tls / "cert.pem", tls / "key.pem")


def machine(tls: Path, name: str) -> Files:
    """The certificate of a node or of the registry (``name``: ``node-1``, ``registry``)."""
    return Files(tls / name / "ca.pem", tls / name / "cert.pem", tls / name / "key.pem")


def fingerprint(tls: Path, name: str = "") -> str:
    """A short digest of the CA's certificate and of ``name``'s (``node-1``, ``registry``):
    a machine started with other files must be started again."""
    digest = hashlib.sha256((tls / "ca.pem").read_bytes())
    if name:
        digest.update(machine(tls, name).cert.read_bytes())
    return digest.hexdigest()[:16]


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise ClusterError("the cluster's certificates are made with openssl, which is "
                           "missing: apt-get install openssl.")
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {done.stderr.strip()[-500:]}")


def _key(path: Path) -> None:
    old = os.umask(0o077)  # the key is never readable by others, not even for a moment
    try:
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", path.name, cwd=path.parent)
    finally:
        os.umask(old)
    path.chmod(0o600)


def _sign(tls: Path, files: Files, subject: str, usage: str, names: list[str]) -> None:
    files.cert.parent.mkdir(mode=0o700, exist_ok=True)
    _key(files.key)
    request = files.cert.with_suffix(".csr")
    extensions = files.cert.with_suffix(".ext")
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
             f"extendedKeyUsage={usage}"]
    if names:
        lines.append("subjectAltName=" + ",".join(names))
    extensions.write_text("\n".join(lines) + "\n")
    try:
        _openssl("req", "-new", "-key", str(files.key), "-subj", subject, "-out", str(request),
                 cwd=tls)
        _openssl("x509", "-req", "-in", str(request), "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-days", DAYS, "-sha256", "-extfile", str(extensions),
                 "-out", str(files.cert), cwd=tls)
    finally:
        request.unlink(missing_ok=True)
        extensions.unlink(missing_ok=True)
    if files.ca != tls / "ca.pem":
        shutil.copyfile(tls / "ca.pem", files.ca)


def ensure(tls: Path, nodes: dict[str, str], registry: tuple[str, str]) -> bool:
    """Make what is missing in ``tls``: the CA, the project's client certificate, a
    certificate for each node (``node-<i>`` -> its address) and for the registry (its
    name, its address). True if the CA was made now (every node needs its new files).

    Raises:
        ClusterError: openssl is missing or failed.
    """
    made = not (tls / "ca.pem").is_file() or not (tls / "ca-key.pem").is_file()
    if made:
        if tls.exists():
            shutil.rmtree(tls)
        tls.mkdir(mode=0o700, parents=True)
        _key(tls / "ca-key.pem")
        _openssl("req", "-new", "-x509", "-key", "ca-key.pem", "-days", DAYS, "-sha256",
                 "-subj", "/CN=ac295 cluster CA", "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext",
                 "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem", cwd=tls)
    tls.chmod(0o700)
    wanted: dict[str, tuple[str, str, list[str]]] = {
        "": ("/CN=ac295 project", "clientAuth", [])}
    for name, address in nodes.items():
        wanted[name] = (f"/CN=ac295-swarm-{name}", "serverAuth,clientAuth",
                        [f"DNS:ac295-swarm-{name}", f"IP:{address}"])
    wanted["registry"] = (f"/CN={registry[0]}", "serverAuth",
                          [f"DNS:{registry[0]}", f"IP:{registry[1]}"])
    made_for = tls / "made-for.json"  # what each certificate names: a moved node needs anew
    try:
        before = json.loads(made_for.read_text())
    except (OSError, ValueError):
        before = {}
    for name, (subject, usage, names) in wanted.items():
        files = project(tls) if not name else machine(tls, name)
        if before.get(name) != names or not all(
                f.is_file() for f in (files.cert, files.key, files.ca)):
            _sign(tls, files, subject, usage, names)
    made_for.write_text(json.dumps({**before, **{n: w[2] for n, w in wanted.items()}},
                                   indent=1, sort_keys=True) + "\n")
    return made


def remove(tls: Path) -> bool:
    """Remove the certificates; False if there were none."""
    if not tls.exists():
        return False
    shutil.rmtree(tls)
    return True
