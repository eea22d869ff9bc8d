"""The ``buildah`` builder: images made byte for byte the same from the same inputs.

Every image is made by ``buildah bud --timestamp <SOURCE_DATE_EPOCH> --isolation chroot
--storage-driver vfs`` (an import and a commit as a Dockerfile written here: ``FROM scratch``
+ ``ADD`` of the tarball, ``FROM`` the source + one ``RUN``): every time in the config and
every file time in the new layer is the epoch, so the bytes depend on the inputs only. The
image is pushed by buildah to the registry under its content tag (``transit``), then pulled
from there by the engine by digest: the registry is where the two meet, and the digest it
serves is a content identity, the same on every machine with the same buildah.

What else would put a place or a history in the bytes, and what is done about it:

- the name of a base image goes into the new image (the history's "FROM ..." and the
  manifest's ``org.opencontainers.image.base.name``): a base that a build arg names is given
  a name without the registry's host (``localhost/<repository>:<tag>``), and it is the only
  name the image has in this storage (buildah writes the first one);
- the base's manifest digest goes in too (``...base.digest``): bases are always pulled from
  the registry by digest, never used as built here (a built image's stored manifest is not
  the pushed one); what a build makes is removed from this storage once pushed;
- buildah's version label is left out (``--identity-label=false``); the storage driver is
  always vfs (overlay's layers hold copied-up folders that vfs's do not).

The storage (``<state>/buildah``) belongs to one project copy; one build at a time uses it
(a file lock), since naming bases and building must not interleave.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from ..dsl.config import LOOPBACK_HOSTS
from ..errors import BuildError, CommandFailed, RegistryError
from ..progress import Progress, plain
from .. import process
from . import images, registry
from .builders import BuildRequest, CommitRequest, ImportRequest, Made
from .client import Engine
from .refs import registry_and_name, repository_tag

DRIVER = "vfs"
#: Where an image whose tag names no registry goes in the registry: buildah hands every
#: image to the engine through the registry.
LOCAL_NAMESPACE = "ac295-local"
TAIL = 15
_STEP = re.compile(r"^STEP (\d+/\d+): (.*)$")
#: buildah's and skopeo's own chatter, left out of what a step shows (kept for errors).
_CHATTER = re.compile(r"^(Getting image source signatures|Copying (blob|config) |Writing manifest"
                      r"|Storing signatures|--> |Successfully tagged |COMMIT |untagged: "
                      r"|[0-9a-f]{64}$)")
#: The longest line shown (a LABEL with a package list is thousands of characters).
WIDTH = 240


@dataclass
class Buildah:
    """buildah, with its own storage under the project's state folder.

    Args:
        engine: the engine that pulls what buildah pushed.
        root: the storage folder (``<state>/buildah``).
        registry: the project's registry (host[:port]), for tags that name none.
        epoch: SOURCE_DATE_EPOCH: every time the images hold.
    """

    engine: Engine
    root: Path
    registry: str
    epoch: int = 0
    name: str = "buildah"
    reproducible: bool = True

    def key(self) -> str:
        return f"buildah/{DRIVER}@{self.epoch}"

    def transit(self, tag: str, inputs: str) -> str:
        return images.content_tag(in_registry(tag, self.registry), inputs)

    # --- the three ways to make an image ---------------------------------------------

    def build(self, request: BuildRequest, progress: Progress, export: Path | None = None
              ) -> Made:
        with self._locked():
            names = self._prepare_bases(request.bases, request.args, progress)
            args = {key: names.get(value, value) for key, value in request.args.items()}
            command = ["bud", "-f", str(request.dockerfile)]
            command += [f"--build-arg={k}={v}" for k, v in sorted(args.items())]
            command += [f"--label={k}={v}" for k, v in sorted(request.labels.items())]
            command += ["--no-cache"] if request.nocache else []
            self._bud(command + [str(request.context)], request.transit,
                      f"building {request.tag} for {request.task}",
                      f"Fix the Dockerfile {request.shown or request.dockerfile} or the files "
                      "it uses, then rerun.", 0, progress)
            digest = self._push(request.transit, request.task, progress, export)
        return self._deliver(request.transit, digest, request.tag, progress, export)

    def import_rootfs(self, request: ImportRequest, progress: Progress,
                      export: Path | None = None) -> Made:
        with self._locked(), self._scratch() as folder:
            progress(f"importing {request.tarball} "
                     f"({request.tarball.stat().st_size / 1e6:.0f} MB) as {request.tag}")
            try:
                os.link(request.tarball, folder / "rootfs.tar")
            except OSError:  # another file system: a copy
                shutil.copyfile(request.tarball, folder / "rootfs.tar")
            dockerfile = folder / "Dockerfile"
            dockerfile.write_text("FROM scratch\nADD rootfs.tar /\n"
                                  + "".join(f"{change}\n" for change in request.changes))
            command = ["bud", "-f", str(dockerfile)]
            command += [f"--label={k}={v}" for k, v in sorted(request.labels.items())]
            self._bud(command + [str(folder)], request.transit,
                      f"importing {request.tarball} for {request.task}",
                      f"Check the tarball {request.tarball} and the step's 'changes:'.", 0,
                      progress)
            digest = self._push(request.transit, request.task, progress, export)
        return self._deliver(request.transit, digest, request.tag, progress, export)

    def commit(self, request: CommitRequest, progress: Progress, export: Path | None = None
               ) -> Made:
        if not request.source:
            raise BuildError(f"{request.task}: the image it starts from is in no registry, "
                             "so buildah cannot read it. Run the step that makes it again.")
        with self._locked(), self._scratch() as folder:
            names = self._prepare_bases({request.source: request.source},
                                        {"SOURCE": request.source}, progress)
            script = "set -e\n" + "\n".join(request.commands)
            dockerfile = folder / "Dockerfile"
            dockerfile.write_text(f"FROM {names[request.source]}\n"
                                  f"RUN {json.dumps(['/bin/sh', '-c', script])}\n")
            command = ["bud", "-f", str(dockerfile)]
            command += [f"--label={k}={v}" for k, v in sorted(request.labels.items())]
            try:
                self._bud(command + [str(folder)], request.transit,
                          f"{request.task}: the commands", "The image was not committed.",
                          request.timeout, progress)
            except BuildError as err:
                raise CommandFailed(f"{err} {request.fix}") from None
            digest = self._push(request.transit, request.task, progress, export)
        return self._deliver(request.transit, digest, request.tag, progress, export)

    def push(self, image_id: str, ref: str, source: str, progress: Progress
             ) -> tuple[str, int]:
        """Copy the manifest the registry serves for ``source`` to ``ref``, unchanged.

        A ``docker push`` would write a manifest of its own (another digest); skopeo copies
        the bytes, so a push names the image by the same digest as the build. Blobs already
        in the registry are not uploaded again (another repository's are mounted).
        """
        if not source:  # an image buildah did not make and no registry holds: the engine's
            from .builders import Docker

            return Docker(self.engine).push(image_id, ref, source, progress)
        with tempfile.TemporaryDirectory(prefix="ac295-push-") as tmp:
            digestfile = Path(tmp) / "digest"
            _command(["skopeo", "copy", "--preserve-digests",
                            f"--src-tls-verify={_tls(source)}",
                            f"--dest-tls-verify={_tls(ref)}", f"--digestfile={digestfile}",
                            f"docker://{source}", f"docker://{ref}"], 600, progress,
                           RegistryError, f"copying {source} to {ref}")
            digest = digestfile.read_text().strip()
        if images.names_registry(ref):
            self.engine.refresh(ref)
        return digest, -1  # skopeo does not say which blobs it skipped

    # --- the storage ---------------------------------------------------------------

    def _base(self) -> list[str]:
        return ["buildah", "--root", str(self.root / "storage"), "--runroot",
                str(self.root / "run"), "--storage-driver", DRIVER]

    def _run(self, args: Sequence[str], what: str, progress: Progress | None,
             timeout: int = 0,
             error: type[BuildError] | type[RegistryError] = BuildError) -> list[str]:
        return _command(self._base() + list(args), timeout, progress, error, what)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One build at a time in this storage; what an interrupted one left goes first
        (a working container is a whole copy of its image's files under vfs)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._run(["rm", "--all"], "removing buildah's leftover containers", None)
            yield

    @contextlib.contextmanager
    def _scratch(self) -> Iterator[Path]:
        folder = Path(tempfile.mkdtemp(prefix="ac295-buildah-", dir=self.root))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _names(self) -> dict[str, list[str]]:
        """Every image of the storage, by id, with its names."""
        out = _command(self._base() + ["images", "--json", "--no-trunc"], 120, None,
                       BuildError, "listing buildah's images")
        listed = json.loads("\n".join(out) or "[]")
        return {_bare(str(i.get("id", ""))): list(i.get("names") or []) for i in listed}

    def _prepare_bases(self, bases: Mapping[str, str], args: Mapping[str, str],
                       progress: Progress) -> dict[str, str]:
        """Pull each base by digest and name it; return each base's name.

        A base that a build arg names is called ``neutral(ref)``, one the Dockerfile writes
        keeps that name; every other name of those images is taken off, since buildah
        writes an image's first name into what it builds.
        """
        named_by_arg = set(args.values())
        names: dict[str, str] = {}
        wanted: dict[str, set[str]] = {}
        for ref, source in sorted(bases.items()):
            if "@sha256:" not in source:
                raise BuildError(f"{ref}: buildah reads images from a registry by digest, and "
                                 f"this one has none ({source or 'not in a registry'}). Push "
                                 "it to a registry, or build with the docker builder.")
            name = neutral(ref) if ref in named_by_arg else ref
            image_id = self._pull(source, name, progress)
            if self._manifest_digest(name) != source.rpartition("@")[2]:
                # the storage's manifest of it is not the registry's (an image built here
                # with the same config): buildah would write that digest into the build
                self._run(["rmi", "--force", image_id], f"forgetting {source}", None)
                image_id = self._pull(source, name, progress)
            wanted.setdefault(image_id, set()).add(_qualified(name))
            names[ref] = name
        listed = self._names() if wanted else {}
        for image_id, keep in wanted.items():
            for other in listed.get(image_id, []):
                if other not in keep:
                    self._run(["rmi", other], f"unnaming {other}", None)
        self._run(["rmi", "--prune"], "removing unnamed images", None)
        return names

    def _pull(self, source: str, name: str, progress: Progress) -> str:
        """Pull ``source`` (by digest) into the storage, name it ``name``; its image id."""
        out = self._run(["pull", "--quiet", f"--tls-verify={_tls(source)}",
                         f"docker://{source}"], f"pulling {source} for buildah", progress, 600)
        image_id = _bare(out[-1].strip()) if out else ""
        self._run(["tag", image_id, name], f"naming {source}", None)
        return image_id

    def _manifest_digest(self, name: str) -> str:
        """The digest of the manifest buildah reads for ``name`` (and writes into a build)."""
        out = self._run(["inspect", "--type", "image", "--format", "{{.FromImageDigest}}",
                         name], f"reading {name}", None)
        return out[-1].strip() if out else ""

    def _bud(self, command: list[str], transit: str, what: str, fix: str, timeout: int,
             progress: Progress) -> None:
        """``buildah bud`` with the options that make it reproducible, tagged ``transit``."""
        full = [command[0], f"--timestamp={self.epoch}", "--isolation=chroot",
                "--pull=never", "--identity-label=false", "--format=oci", "--layers=false",
                "--force-rm", "-t", transit] + command[1:]
        try:
            self._run(full, what, progress, timeout)
        except BuildError as err:
            raise BuildError(f"{err}{fix}") from None

    def _push(self, transit: str, task: str, progress: Progress, export: Path | None) -> str:
        """Push the image just built to the registry (or, with ``export``, into an OCI
        layout in that folder: the same manifest); return its digest; forget it here."""
        where = f"oci:{export}:image" if export else f"docker://{transit}"
        with tempfile.TemporaryDirectory(prefix="ac295-push-") as tmp:
            digestfile = Path(tmp) / "digest"
            self._run(["push", "--quiet", "--format=oci", f"--tls-verify={_tls(transit)}",
                       f"--digestfile={digestfile}", transit, where],
                      f"pushing {transit} for {task}", progress, 600, RegistryError)
            digest = digestfile.read_text().strip()
        # gone whole, not only its name: an image this storage built may have the id of a base
        # it pulled (the same config), and its manifest is not the registry's
        built = [i for i, names in self._names().items() if _qualified(transit) in names]
        if built:
            self._run(["rmi", "--force", *built], f"removing {transit} from buildah's storage",
                      None)
        if not export:
            progress(f"{transit}: pushed {digest} (buildah)")
        return digest

    def _deliver(self, transit: str, digest: str, tag: str, progress: Progress,
                 export: Path | None) -> Made:
        """The engine pulls what buildah pushed (nothing to do for an export)."""
        if export:
            return Made("", str(export), digest)
        repository, _ = repository_tag(transit)
        image_id = registry.pull(self.engine, f"{repository}@{digest}", progress)
        images.tag(self.engine, image_id, tag)
        return Made(image_id, transit, digest)


def in_registry(tag: str, registry_host: str) -> str:
    """``tag`` if it names a registry, else the same name in ``registry_host`` (under
    ``ac295-local/``): where buildah puts an image for the engine to pull."""
    if images.names_registry(tag):
        return tag
    return f"{registry_host}/{LOCAL_NAMESPACE}/{tag}"


def neutral(ref: str) -> str:
    """A base's name in buildah's storage, without the registry's host (which would go into
    the image): ``localhost/<repository>:<tag>``."""
    repository, tag = repository_tag(ref)
    _, name = registry_and_name(repository)
    if tag and tag.startswith("sha256:"):
        tag = "sha256-" + tag.split(":", 1)[1][:12]
    return f"localhost/{name}:{tag or 'latest'}"


def _bare(image_id: str) -> str:
    """An image id without its ``sha256:`` (buildah prints it both ways)."""
    return image_id.split(":", 1)[-1]


def _qualified(name: str) -> str:
    """A name as buildah lists it (a tag, a Docker Hub library name made whole)."""
    repository, tag = repository_tag(name)
    host, path = registry_and_name(repository)
    if host == "docker.io" and not images.names_registry(repository):
        path = path if "/" in path else f"library/{path}"
    return f"{host}/{path}{'@' if tag and tag.startswith('sha256:') else ':'}{tag or 'latest'}"


def _tls(ref: str) -> str:
    """``false`` for a registry on this machine's loopback (plain HTTP), else ``true``."""
    host, _ = registry_and_name(repository_tag(ref)[0])
    return "false" if host.split(":")[0] in LOOPBACK_HOSTS else "true"


def _command(args: list[str], timeout: int, progress: Progress | None,
             error: type[BuildError] | type[RegistryError], what: str) -> list[str]:
    """Run a command with no input; show its output as it comes; return its lines.

    Raises:
        ``error``: it could not start, failed, or ran over ``timeout`` seconds (0: none); the
            message quotes its last lines and the step it failed at.
    """
    lines: list[str] = []
    step = ""
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as err:
        raise error(f"{what}: cannot run {args[0]} ({err.strerror or err}). Run "
                    "script/bootstrap, which installs it.") from None
    timer = None
    if timeout:
        import threading

        timer = threading.Timer(timeout, proc.kill)
        timer.start()
    with proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                text = plain(line.rstrip("\n"))
                lines.append(text)
                if (match := _STEP.match(text)):
                    step = f" at step {match.group(1)} ({match.group(2)})"
                if progress is not None and text.strip() and not _CHATTER.match(text):
                    progress(text if len(text) <= WIDTH else text[:WIDTH - 3] + "...")
        except BaseException:  # Ctrl-C or SIGTERM: stop it too, let it clean up
            process.stop(proc)
            raise
        finally:
            if timer is not None:
                timer.cancel()
    if proc.returncode != 0:
        late = " (it ran over its timeout; raise 'timeout:' if it needs longer)" \
            if timeout and proc.returncode == -9 else ""
        tail = "\n".join(lines[-TAIL:]) or "(it printed nothing)"
        raise error(f"{what} failed{step}{late}: exit {proc.returncode}\n{tail}\n")
    return lines
