"""Debian's cloud kernel for the VMs: downloaded as a package, never installed.

``apt-get download`` follows the metapackage (``linux-image-cloud-amd64``) to the real
package (``linux-image-6.1.0-NN-cloud-amd64``); only ``boot/vmlinuz-*`` is taken out of it.
That kernel boots in a second or two under TCG and has what an initramfs root needs built in
(serial console, devtmpfs, initrd); its virtio drivers are modules, which is why the root
file system is the initramfs itself and output comes back over a serial port.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..digests import file_sha256
from ..errors import VmError

METAPACKAGE = "linux-image-cloud-amd64"


@dataclass(frozen=True)
class Kernel:
    """A fetched kernel: where its image is, and what it is (package, version, sha256)."""

    path: Path
    package: str
    version: str
    sha256: str


def _apt_get(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = ["apt-get", "-q"]
    if os.geteuid() == 0:  # _apt cannot write here: download as root, without the warning
        command += ["-o", "APT::Sandbox::User=root"]
    return subprocess.run(command + args, cwd=cwd, capture_output=True, text=True)


def _download(package: str, folder: Path) -> None:
    """``apt-get download package`` into ``folder``; an ``apt-get update`` first if apt does
    not know the package yet (a fresh machine)."""
    found = _apt_get(["download", package], folder)
    if found.returncode != 0 and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
        found = _apt_get(["download", package], folder)
    if found.returncode != 0:
        raise VmError(f"apt-get download {package} failed: {found.stderr.strip()[-400:]}. "
                      "Check that Debian's archive is reachable (apt-get update as root).")


def _field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], check=True, capture_output=True,
                          text=True).stdout.strip()


def fetch(folder: Path, metapackage: str = METAPACKAGE) -> Kernel:
    """Download the kernel the metapackage names now and extract its ``vmlinuz``.

    The metapackage is asked each time (a security update moves it); the packages are
    deleted once the kernel is out of them.

    Raises:
        VmError: apt cannot download it, or the package holds no kernel image.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{metapackage}_*.deb"):
        old.unlink()
    _download(metapackage, folder)
    meta = sorted(folder.glob(f"{metapackage}_*.deb"))[-1]
    depends = _field(meta, "Depends")
    match = re.search(r"(linux-image-[0-9][^\s,(]*)\s*\(=\s*([^)\s]+)\)", depends)
    if not match:
        raise VmError(f"{metapackage} names no linux-image package ({depends!r}).")
    package, version = match.group(1), match.group(2)
    _download(f"{package}={version}", folder)
    debs = sorted(folder.glob(f"{package}_*.deb"))
    path = _extract(debs[-1], folder)
    for deb in folder.glob("*.deb"):
        deb.unlink()  # 27 MB of modules: the kernel is all a VM needs of it
    return Kernel(path, package, version, "sha256:" + file_sha256(path))


def _extract(deb: Path, folder: Path) -> Path:
    """Copy ``boot/vmlinuz-*`` out of the package (not the 100 MB of modules) to
    ``folder/vmlinuz``."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)  # it says "Broken pipe" when we stop
    assert proc.stdout is not None
    dest = folder / "vmlinuz"
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile() and re.fullmatch(r"\.?/?boot/vmlinuz-.*", member.name):
                    source = tar.extractfile(member)
                    assert source is not None
                    part = dest.with_suffix(".part")
                    with open(part, "wb") as out:
                        shutil.copyfileobj(source, out)
                    os.replace(part, dest)
                    return dest
    finally:
        proc.stdout.close()
        proc.wait()
    raise VmError(f"{deb.name} holds no boot/vmlinuz-*.")
