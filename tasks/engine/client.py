"""The Docker Engine as this project sees it: one client, and images looked up one by one.

Up-to-date checks ask "does the engine still have image X / what id does tag T have". A null
build asks that a few times per step, so a question costs one small request (an inspect, a
millisecond on the local socket), answered from a cache the second time; the engine's whole
image list (which grows with every build and takes seconds with a thousand images) is only
read by actions that need it (finding an image to reuse, pruning). On the local socket the
questions go over a plain HTTP connection, so a null build never imports the Docker SDK (a
tenth of a second); actions use the SDK. Every method that calls the SDK is ``translated``:
its exceptions leave this package as the project's errors.
"""
from __future__ import annotations

import json
import os
import socket
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import EngineError
from .boundary import translated

API = "/v1.41"  # Debian's docker.io 20.10; newer engines serve it too

#: Labels put on everything this project creates, so it can be found and cleaned up.
LABEL_TASK = "org.ac295.task"
#: The state folder of the project copy that made a container or network: two clones
#: sharing one engine (tests, CI) must not take each other's for their own.
LABEL_PROJECT = "org.ac295.project"
#: On an image made from inputs: "<inputs digest> <task> <project's state folder>". One
#: label, so that a build adds one LABEL step (each step of the legacy builder is a
#: container), and the three facts always travel together.
LABEL_MADE = "org.ac295.made"
#: The pid of the ``doit shell`` process that made a container or network (shells.py makes
#: them; containers.py leaves them alone when it sweeps).
LABEL_SHELL = "org.ac295.shell"
#: What every container this project starts gets: never privileged, and bounded, so that a
#: runaway exercise cannot take the machine (2 cores, 24 GiB here) with it.
CONTAINER_LIMITS: dict[str, object] = {"privileged": False, "mem_limit": "2g",
                                       "pids_limit": 1024}


@dataclass
class ImageInfo:
    """What the engine knows of one image."""

    id: str
    tags: list[str]
    repo_digests: list[str]
    labels: dict[str, str]
    created: int = 0  # seconds since the epoch
    size: int = 0  # bytes, with the layers it shares with others

    @property
    def made(self) -> tuple[str, str, str] | None:
        """(inputs digest, task, project) of an image this project made, or None."""
        parts = (self.labels.get(LABEL_MADE) or "").split(" ", 2)
        return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


@dataclass
class Engine:
    """A lazily connected Docker client plus a per-process image listing.

    Args:
        factory: makes the client (``docker.from_env`` in production, a fake in unit tests).
    """

    factory: Callable[[], Any] | None = None  # None: docker.from_env, imported when needed
    project: str = ""
    _client: Any = None
    _images: dict[str, ImageInfo] | None = field(default=None, repr=False)
    _known: dict[str, ImageInfo | None] = field(default_factory=dict, repr=False)
    _pid: int = 0

    @property
    def client(self) -> Any:
        """The Docker client, connected and pinged on first use in each process.

        A worker that doit forks (``-n N``) gets a client of its own: a connection shared
        with the parent would mix two processes' requests on one socket.
        """
        if self._client is not None and self._pid != os.getpid():
            self._client = None
        if self._client is None:
            import docker

            try:
                client = (self.factory or docker.from_env)()
                client.ping()
            except docker.errors.DockerException as err:
                raise EngineError(f"{_no_engine()} ({err})") from None
            except Exception as err:  # requests' connection errors when the socket is gone
                raise EngineError(f"{_no_engine()} ({type(err).__name__})") from None
            self._client = client
            self._pid = os.getpid()
        return self._client

    def _socket(self) -> str | None:
        """The local socket to ask directly, or None to go through the SDK (a fake in unit
        tests, or an engine elsewhere)."""
        host = os.environ.get("DOCKER_HOST", "")
        if self.factory is not None or (host and not host.startswith("unix://")):
            return None
        return host[len("unix://"):] if host else "/var/run/docker.sock"

    def _inspect(self, ref: str) -> dict[str, Any] | None:
        """``GET /images/{ref}/json``: the image's attributes, or None if there is no such."""
        path = self._socket()
        if path is None:
            import docker.errors

            try:
                return dict(self.client.api.inspect_image(ref))
            except docker.errors.ImageNotFound:
                return None
            except docker.errors.DockerException as err:
                raise EngineError(f"the Docker Engine refused: {err}") from None
        try:
            status, body = unix_get(path, f"{API}/images/"
                                          f"{urllib.parse.quote(ref, safe=':@/')}/json")
        except OSError as err:
            raise EngineError(f"{_no_engine()} ({err.strerror or err})") from None
        if status == 404:
            return None
        if status != 200:
            raise EngineError(f"the Docker Engine answered {status} for {ref}: "
                              f"{body[:200].decode('utf-8', 'replace')}")
        return dict(json.loads(body))

    def info(self, ref: str) -> ImageInfo | None:
        """What the engine knows of the image an id, a tag or ``name@sha256:...`` names.

        Asked once per reference and process (``refresh`` forgets the answers); names are
        resolved by the engine itself, as ``docker run`` resolves them.
        """
        if ref not in self._known:
            attrs = self._inspect(ref)
            found = self._known[ref] = None if attrs is None else _info(attrs)
            if found is not None:
                self._known.setdefault(found.id, found)  # asked next by its id, often
        return self._known[ref]

    @property
    def is_local(self) -> bool:
        """True if the engine runs on this machine (its folders can be read directly)."""
        host = os.environ.get("DOCKER_HOST", "")
        return host == "" or host.startswith("unix://")

    def __getstate__(self) -> dict[str, Any]:
        """What a copy in another process gets: the factory and the project, no connection.

        doit pickles a task's fields to send them to its workers (``-n N``); a client holds
        a socket and locks, and what it learnt of the images belongs to one process.
        """
        return {"factory": self.factory, "project": self.project, "_client": None,
                "_images": None, "_known": {}, "_pid": 0}

    @translated
    def server(self) -> dict[str, Any]:
        """What the engine says of itself (``docker info``): version, storage driver, cgroups."""
        return dict(self.client.info())

    def labels(self, task: str, **extra: str) -> dict[str, str]:
        """Labels for a container or network made for ``task`` by this project copy."""
        return {LABEL_TASK: task, LABEL_PROJECT: self.project, **extra}

    def image_label(self, digest: str, task: str) -> dict[str, str]:
        """The label of an image ``task`` of this project copy makes from inputs ``digest``."""
        return {LABEL_MADE: f"{digest} {task} {self.project}"}

    @translated
    def images(self) -> dict[str, ImageInfo]:
        """The images this project made (any copy), by id, listed once per process."""
        if self._images is None:
            self._images = {}
            for image in self.client.api.images(filters={"label": LABEL_MADE}):
                info = ImageInfo(image.get("Id", ""), _names(image.get("RepoTags")),
                                 _names(image.get("RepoDigests")), image.get("Labels") or {},
                                 int(image.get("Created") or 0), int(image.get("Size") or 0))
                self._images[info.id] = info
        return self._images

    def image_id(self, ref: str) -> str | None:
        """The id that an image id, a tag or a ``name@sha256:...`` refers to, or None."""
        found = self.info(ref)
        return found.id if found else None

    def forget_images(self) -> None:
        """Forget what was learnt of the images (after removing some)."""
        self._images = None
        self._known = {}

    def forget_lookups(self) -> None:
        """Forget the answers about single references, keep the listing of made images: a
        resident process (``doit watch``) asks again each round what names point where,
        while an image it finds in the older listing is confirmed before use
        (``find_made``), and images it makes are added as it makes them."""
        self._known = {}

    @translated
    def refresh(self, ref: str) -> ImageInfo | None:
        """Re-read one image after we changed it (build, tag, push); None if it is gone."""
        self._known = {}  # a tag may have moved: ask again
        found = self.info(ref)
        if self._images is not None and found is not None and found.made:
            self._images[found.id] = found
        return found

    @translated
    def find_made(self, digest: str, task: str, hint: str = "") -> ImageInfo | None:
        """An image that ``task`` made from inputs with this digest, or None.

        Labels are inherited: an image built FROM ours carries our labels too. So the label
        only nominates candidates; the image's own newest history entry must be ours: our
        LABEL instruction (build), our commit comment (commit), or a lone import layer.
        ``hint``, a reference such an image would have here (its content tag), is asked
        first: one inspect instead of the listing, which grows with the engine's images.
        """
        named = self.info(hint) if hint else None
        if named is not None and named.made and named.made[:2] == (digest, task) \
                and self._made_here(named.id, task):
            return named
        for info in self.images().values():
            made = info.made
            if made and made[:2] == (digest, task) and self._made_here(info.id, task):
                return info
        return None

    def _made_here(self, image_id: str, task: str) -> bool:
        import docker.errors

        try:
            history = self.client.api.history(image_id)
        except docker.errors.NotFound:
            return False  # removed since it was listed
        if not history:
            return False
        top = history[0]
        created = top.get("CreatedBy") or ""
        comment = top.get("Comment") or ""
        if comment == f"ac295 {task}":
            return True  # a commit step's docker commit
        if len(history) == 1 and comment.startswith("Imported"):
            return True  # an import: one layer, no parent
        return f"LABEL {LABEL_MADE}=" in created and f" {task} " in created


def unix_get(path: str, url: str, timeout: float = 60) -> tuple[int, bytes]:
    """``GET url`` on the engine's unix socket: (status, body).

    HTTP/1.0, so that the engine answers with a plain body and closes the connection: no
    chunks, no keep-alive, and no need for ``http.client`` (which loads ``ssl`` and the
    email parser: more than all of a null build's lookups cost).

    Raises:
        OSError: the socket cannot be reached, or the answer is not HTTP.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        sock.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\n\r\n".encode("ascii"))
        chunks = []
        while data := sock.recv(1 << 16):
            chunks.append(data)
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    words = head.split(b" ", 2)
    if len(words) < 2 or not words[0].startswith(b"HTTP/") or not words[1].isdigit():
        raise OSError(f"not an HTTP answer: {head[:60]!r}")
    return int(words[1]), body


def _no_engine() -> str:
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return (f"No Docker Engine answers at {where}. Run script/bootstrap (as root it installs "
            "Debian's docker.io and starts dockerd), start one yourself, or point DOCKER_HOST "
            "at one.")


def _names(found: Any) -> list[str]:
    return [n for n in (found or []) if n not in ("<none>:<none>", "<none>@<none>")]


def _info(attrs: dict[str, Any]) -> ImageInfo:
    return ImageInfo(attrs["Id"], _names(attrs.get("RepoTags")), _names(attrs.get("RepoDigests")),
                     (attrs.get("Config") or {}).get("Labels") or {},
                     _epoch(attrs.get("Created")), int(attrs.get("Size") or 0))


def _epoch(created: Any) -> int:
    """Seconds since the epoch of an inspect's ``Created`` (an RFC 3339 text)."""
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(created)[:19]).timestamp())
    except ValueError:
        return 0
