"""The CNCF distribution registry (Debian's ``docker-registry``) run by this project.

It listens on 127.0.0.1 only and keeps its storage under the state folder. It counts as this
project's only if the process in its pid file serves this project's config: anything else
answering on the port (a student's ``registry:2``, Debian's own service) is refused, or it would
receive our pushes.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path



from ..errors import RegistryError

from .registry import Reference
from ..progress import Progress


@dataclass(frozen=True)
class LocalRegistry:
    """The registry service of one project copy: its port and its folder."""

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
        """True if a registry answers on the port (ours or another one).

        A plain connection first (a millisecond when nothing listens), then one GET.
        """
        import http.client  # only when the registry must be asked, not read from disk

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/v2/")
            status = connection.getresponse().status
        except OSError:
            return False
        finally:
            connection.close()
        return status in (200, 401)

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
        """What the registry serves for ``ref``, read from its storage (no request needed:
        its storage is what it serves, running or not).

        Raises:
            RegistryError: something this project did not start answers on the port.
        """
        if not self.ours() and self.answers():
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
        import yaml

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
