"""Registries: the local CNCF registry service, manifest HEAD requests, and pushes.

Why read the push stream here: docker-py's ``push`` returns a stream in which failures arrive
as ``error``/``errorDetail`` chunks inside an HTTP 200 response; nothing raises. Credentials
come from the Docker config (and its credential helpers) through docker-py, are sent only in
request headers, and are never logged, stored in records, or put in doit's database.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import docker.auth
import docker.errors
import requests
import yaml
from docker.utils import parse_repository_tag

from .config import LOOPBACK_HOSTS
from .engine import Engine
from .errors import RegistryError

Progress = Callable[[str], None]
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])
#: What docker-py (and the Docker CLI) call Docker Hub; its API lives at registry-1.docker.io.
_HUBS = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Reference:
    """An image reference split the way the registry API needs it."""

    registry: str  # host[:port] as the Docker CLI writes it
    repository: str  # path inside the registry, "library/" added for Docker Hub
    tag: str

    @classmethod
    def parse(cls, ref: str) -> "Reference":
        repo, tag = parse_repository_tag(ref)
        digest = tag if tag and tag.startswith("sha256:") else ""
        if digest and ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]  # name:tag@digest: the digest decides, as in Docker
        registry, name = docker.auth.resolve_repository_name(repo)
        if registry in _HUBS:
            registry = "docker.io"
            if "/" not in name:
                name = f"library/{name}"
        return cls(registry=registry, repository=name, tag=digest or tag or "latest")

    @property
    def hub(self) -> bool:
        return self.registry == "docker.io"

    @property
    def by_digest(self) -> bool:
        return self.tag.startswith("sha256:")

    @property
    def base_url(self) -> str:
        host = "registry-1.docker.io" if self.hub else self.registry
        scheme = "http" if host.split(":")[0] in LOOPBACK_HOSTS else "https"
        return f"{scheme}://{host}"

    def __str__(self) -> str:
        prefix = "" if self.hub else f"{self.registry}/"
        return f"{prefix}{self.repository}{'@' if self.by_digest else ':'}{self.tag}"


def _credentials(registry: str) -> tuple[str, str] | None:
    config = docker.auth.load_config()
    auth = docker.auth.resolve_authconfig(config, registry) or {}
    user, password = auth.get("username") or auth.get("Username"), \
        auth.get("password") or auth.get("Password")
    return (user, password) if user and password else None


def _token(challenge: str, ref: Reference) -> str | None:
    # Credentials go only to an HTTPS token service, or to the registry's own host: a
    # registry must not be able to send them anywhere it likes (CVE-2020-15157's pattern).
    params = dict(part.split("=", 1) for part in challenge[len("Bearer "):].split(",")
                  if "=" in part)
    params = {k.strip(): v.strip().strip('"') for k, v in params.items()}
    realm = params.pop("realm", None)
    if not realm:
        return None
    params.setdefault("scope", f"repository:{ref.repository}:pull")
    parsed = urllib.parse.urlparse(realm)
    trusted = parsed.scheme == "https" or parsed.netloc == ref.registry
    auth = _credentials(ref.registry) if trusted else None
    response = requests.get(realm, params=params, auth=auth, timeout=20)
    if response.status_code != 200:
        return None
    body = response.json()
    return body.get("token") or body.get("access_token")


def manifest_digest(ref: Reference, timeout: float = 10) -> str | None:
    """The digest the registry serves for ``ref`` (one HEAD request), or None if no such tag.

    Raises:
        RegistryError: unreachable, or credentials refused.
    """
    url = f"{ref.base_url}/v2/{ref.repository}/manifests/{ref.tag}"
    headers = {"Accept": MANIFEST_TYPES}
    try:
        response = requests.head(url, headers=headers, timeout=timeout)
        if response.status_code == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            if challenge.startswith("Bearer "):
                token = _token(challenge, ref)
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                response = requests.head(url, headers=headers, timeout=timeout)
            else:
                response = requests.head(url, headers=headers, timeout=timeout,
                                         auth=_credentials(ref.registry))
    except requests.RequestException as err:
        raise RegistryError(f"the registry {ref.registry} does not answer ({type(err).__name__})"
                            f" while checking {ref}. Start it (`doit registry_start` for the "
                            "local one) or fix the 'registry' variable in ac295.yml.") from None
    if response.status_code in (401, 403):
        raise RegistryError(f"the registry {ref.registry} refused access to {ref} (HTTP "
                            f"{response.status_code}). Log in with `docker login "
                            f"{ref.registry}`; credentials are read from the Docker config.")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise RegistryError(f"the registry {ref.registry} answered HTTP {response.status_code} "
                            f"for {ref}.")
    return response.headers.get("Docker-Content-Digest")


def push(engine: Engine, ref: str, progress: Progress) -> tuple[str, int]:
    """Push a local tag; return the manifest digest and the number of layers uploaded.

    Raises:
        RegistryError: an error chunk in the stream, or no digest reported.
    """
    repo, tag = parse_repository_tag(ref)
    digest, uploaded = None, 0
    try:
        for chunk in engine.client.api.push(repo, tag=tag or "latest", stream=True, decode=True):
            if "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                raise RegistryError(f"pushing {ref} failed: {detail}. Check that the registry "
                                    "runs and accepts your credentials (`docker login`).")
            status = chunk.get("status", "")
            if status == "Pushed":
                uploaded += 1
            if status in ("Pushed", "Layer already exists"):
                progress(f"{chunk.get('id', '')}: {status}")
            if "aux" in chunk and chunk["aux"].get("Digest"):
                digest = chunk["aux"]["Digest"]
    except docker.errors.APIError as err:
        raise RegistryError(f"pushing {ref} failed: {err.explanation or err}") from None
    if not digest:
        raise RegistryError(f"pushing {ref} ended without a digest from the registry; the push "
                            "did not complete.")
    return digest, uploaded


def pull(engine: Engine, ref: str, progress: Progress) -> str:
    """Pull ``ref`` into the engine and return its image id.

    Raises:
        RegistryError: an error chunk in the stream (docker-py does not raise for those), or
            the engine has no such image afterwards.
    """
    repo, tag = parse_repository_tag(ref)
    progress(f"pulling {ref}")
    try:
        for chunk in engine.client.api.pull(repo, tag=tag or "latest", stream=True,
                                            decode=True):
            if "error" in chunk:
                detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                raise RegistryError(f"pulling {ref} failed: {detail}. Check the reference, "
                                    "that its registry is reachable, and `docker login`.")
            if chunk.get("status") in ("Pull complete", "Already exists"):
                progress(f"{chunk.get('id', '')}: {chunk['status']}")
    except docker.errors.APIError as err:
        raise RegistryError(f"pulling {ref} failed: {err.explanation or err}. Check the "
                            "reference, that its registry is reachable, and `docker login`."
                            ) from None
    info = engine.refresh(ref)
    if info is None:
        raise RegistryError(f"pulling {ref} reported success but the engine has no such image.")
    return info.id


@dataclass(frozen=True)
class LocalRegistry:
    """The CNCF distribution registry (Debian's ``docker-registry``) run by this project.

    It listens on 127.0.0.1 only and keeps its storage under the state folder.
    """

    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pidfile(self) -> Path:
        return self.root / "registry.pid"

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    @property
    def config_file(self) -> Path:
        return self.root / "config.yml"

    def ours(self) -> bool:
        """True if the process in our pid file is a registry serving our config."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return False
        return _is_registry(pid, self.config_file.resolve())

    def running(self) -> bool:
        """True if our registry runs and answers."""
        return self.ours() and self.answers()

    def _refuse_foreign(self) -> None:
        raise RegistryError(f"something that this project did not start answers on "
                            f"127.0.0.1:{self.port} (another registry, or Debian's "
                            "docker-registry service?). Stop it, or set the 'registry' "
                            "variable to another port (AC295_REGISTRY=127.0.0.1:5001).")

    def answers(self) -> bool:
        """True if a registry answers on the port (ours or another one)."""
        try:
            response = requests.get(f"{self.url}/v2/", timeout=2)
        except requests.RequestException:
            return False
        return response.status_code in (200, 401)

    def tag_link(self, ref: Reference) -> str | None:
        """The digest stored for a tag (or a digest), read from storage while stopped."""
        manifests = self.root / "data/docker/registry/v2/repositories" / ref.repository \
            / "_manifests"
        if ref.by_digest:
            link = manifests / "revisions" / "sha256" / ref.tag.split(":", 1)[1] / "link"
        else:
            link = manifests / "tags" / ref.tag / "current/link"
        try:
            return link.read_text().strip() or None
        except OSError:
            return None

    def served_digest(self, ref: Reference) -> str | None:
        """What the registry serves for ``ref``: asked over HTTP, or read from disk if stopped."""
        if self.running():
            return manifest_digest(ref)
        if self.answers():
            self._refuse_foreign()
        return self.tag_link(ref)

    def start(self, progress: Progress) -> None:
        """Start the registry in the background unless one already answers.

        Raises:
            RegistryError: the binary is missing, or the registry did not come up.
        """
        if self.running():
            progress(f"registry already answers at {self.url}")
            return
        if self.answers():
            self._refuse_foreign()
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RegistryError("the program docker-registry is missing: run script/bootstrap, "
                                "or `apt-get install docker-registry` as root.")
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.config_file
        config.write_text(yaml.safe_dump({
            "version": 0.1, "log": {"level": "info"},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "data")},
                        "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{self.port}"}}))
        with self.log.open("ab") as log:
            process = subprocess.Popen([binary, "serve", str(config)], stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self.pidfile.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.answers():
                progress(f"registry started at {self.url} (pid {process.pid}, storage "
                         f"{self.root / 'data'})")
                return
            if process.poll() is not None:
                break
            time.sleep(0.2)
        process.kill()
        self.pidfile.unlink(missing_ok=True)
        tail = self.log.read_text(errors="replace").splitlines()[-5:]
        raise RegistryError(f"the local registry did not start on 127.0.0.1:{self.port}. Is the "
                            "port taken? Last log lines: " + " | ".join(tail))

    def stop(self, progress: Progress) -> None:
        """Stop the registry this project started (found by its pid file)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            progress("no local registry started by this project is running")
            return
        if _is_registry(pid, self.config_file.resolve()):
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not _is_registry(pid, self.config_file.resolve()):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
            progress(f"registry stopped (pid {pid})")
        self.pidfile.unlink(missing_ok=True)


def _is_registry(pid: int, config: Path) -> bool:
    """True if ``pid`` is a live docker-registry serving ``config`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    served = [Path(os.fsdecode(arg)).resolve() for arg in cmdline[2:3] if arg]
    return any(b"docker-registry" in arg for arg in cmdline[:1]) and served == [config] \
        and state != "Z"
