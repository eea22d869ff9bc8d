"""Registries: references, manifest HEAD requests, pushes and pulls.

Why read the push and pull streams here: docker-py's ``push`` and ``pull`` return a stream in
which failures arrive as ``error``/``errorDetail`` chunks inside an HTTP 200 response; nothing
raises (``boundary.stream_error`` finds them). Credentials come from the Docker config (and
its credential helpers) through docker-py, are sent only in request headers, and are never
logged, stored in records, or put in doit's database.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


from ..errors import RegistryError
from .boundary import stream_error, translated
from ..dsl.config import LOOPBACK_HOSTS
from .client import Engine
from .refs import registry_and_name
from .refs import repository_tag as parse_repository_tag
from ..progress import Progress

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
        registry, name = registry_and_name(repo)
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
    import docker.auth

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
    import requests

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
    import requests

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


def copy_tag(ref: Reference, tag: str, digest: str, timeout: float = 10) -> bool:
    """Put ``tag`` on the manifest ``ref`` names, in the same repository, by copying it: one
    GET and one PUT of the manifest's own bytes, so its digest cannot change and no blob
    moves (what a ``docker push`` of a second tag of the same image ends with, without the
    engine checking every layer again).

    Returns:
        True if the registry now serves ``digest`` under ``tag``; False if it could not be
        done this way (it wants credentials, or answered otherwise): push through the
        engine then. Never raises for the registry's answers.
    """
    import requests

    base = f"{ref.base_url}/v2/{ref.repository}/manifests"
    try:
        got = requests.get(f"{base}/{ref.tag}", headers={"Accept": MANIFEST_TYPES},
                           timeout=timeout)
        if got.status_code != 200 or got.headers.get("Docker-Content-Digest") != digest:
            return False
        kind = got.headers.get("Content-Type", "")
        put = requests.put(f"{base}/{tag}", data=got.content,
                           headers={"Content-Type": kind}, timeout=timeout)
    except requests.RequestException:
        return False
    return put.status_code in (200, 201) and \
        put.headers.get("Docker-Content-Digest") == digest


def _meter(chunk: dict, progress: Progress) -> None:
    """A layer's bytes so far, as a meter line (shown in place on a terminal, else dropped)."""
    detail = chunk.get("progressDetail") or {}
    if detail.get("total"):
        progress(f"\r{chunk.get('id', '')}: {chunk.get('status', '')} "
                 f"{detail.get('current', 0) / 1e6:.1f}/{detail['total'] / 1e6:.1f} MB")


@translated
def push(engine: Engine, ref: str, progress: Progress) -> tuple[str, int]:
    """Push a local tag; return the manifest digest and the number of layers uploaded.

    Raises:
        RegistryError: an error chunk in the stream, or no digest reported.
    """
    import docker.errors

    repo, tag = parse_repository_tag(ref)
    digest, uploaded = None, 0
    try:
        for chunk in engine.client.api.push(repo, tag=tag or "latest", stream=True, decode=True):
            detail = stream_error(chunk)
            if detail is not None:
                raise RegistryError(f"pushing {ref} failed: {detail}. Check that the registry "
                                    "runs and accepts your credentials (`docker login`).")
            status = chunk.get("status", "")
            if status == "Pushed":
                uploaded += 1
            if status in ("Pushed", "Layer already exists"):
                progress(f"{chunk.get('id', '')}: {status}")
            else:
                _meter(chunk, progress)
            if "aux" in chunk and chunk["aux"].get("Digest"):
                digest = chunk["aux"]["Digest"]
    except docker.errors.APIError as err:
        raise RegistryError(f"pushing {ref} failed: {err.explanation or err}") from None
    if not digest:
        raise RegistryError(f"pushing {ref} ended without a digest from the registry; the push "
                            "did not complete.")
    return digest, uploaded


@translated
def pull(engine: Engine, ref: str, progress: Progress) -> str:
    """Pull ``ref`` into the engine and return its image id.

    Raises:
        RegistryError: an error chunk in the stream (docker-py does not raise for those), or
            the engine has no such image afterwards.
    """
    import docker.errors

    repo, tag = parse_repository_tag(ref)
    progress(f"pulling {ref}")
    try:
        for chunk in engine.client.api.pull(repo, tag=tag or "latest", stream=True,
                                            decode=True):
            detail = stream_error(chunk)
            if detail is not None:
                raise RegistryError(f"pulling {ref} failed: {detail}. Check the reference, "
                                    "that its registry is reachable, and `docker login`.")
            if chunk.get("status") in ("Pull complete", "Already exists"):
                progress(f"{chunk.get('id', '')}: {chunk['status']}")
            else:
                _meter(chunk, progress)
    except docker.errors.APIError as err:
        raise RegistryError(f"pulling {ref} failed: {err.explanation or err}. Check the "
                            "reference, that its registry is reachable, and `docker login`."
                            ) from None
    info = engine.refresh(ref)
    if info is None:
        raise RegistryError(f"pulling {ref} reported success but the engine has no such image.")
    return info.id
