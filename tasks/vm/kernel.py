"""Debian's cloud kernel for the VMs: downloaded as a package, never installed.

``apt-get download`` follows the metapackage (``linux-image-cloud-amd64``) to the real
package (``linux-image-6.1.0-NN-cloud-amd64``); only ``boot/vmlinuz-*`` is taken out of it.
That kernel boots in a second or two under TCG and has what an initramfs root needs built in
(serial console, devtmpfs, initrd); its virtio drivers are modules, which is why the root
file system is the initramfs itself and output comes back over a serial port. The modules a
network card needs (virtio-net over PCI, ``NET_MODULES`` and what they depend on) are taken
out too, into ``modules/`` beside ``vmlinuz`` with their load order (``modules/order``): a VM
that serves the network tests loads them from its initramfs.
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
#: The modules a VM's network card needs (with what they depend on, read from each module).
NET_MODULES = ("virtio_pci", "virtio_net")


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
    """Copy ``boot/vmlinuz-*`` out of the package to ``folder/vmlinuz``, and the network
    card's modules to ``folder/modules`` (not the other 100 MB of modules)."""
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    dest = folder / "vmlinuz"
    modules: dict[str, bytes] = {}
    found = False
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name
                if member.isfile() and re.fullmatch(r"\.?/?boot/vmlinuz-.*", name):
                    source = tar.extractfile(member)
                    assert source is not None
                    part = dest.with_suffix(".part")
                    with open(part, "wb") as out:
                        shutil.copyfileobj(source, out)
                    os.replace(part, dest)
                    found = True
                elif member.isfile() and re.search(r"/kernel/(drivers/virtio|drivers/net|"
                                                   r"net/core)/[^/]+\.ko$", name):
                    source = tar.extractfile(member)
                    assert source is not None
                    modules[Path(name).stem] = source.read()
    finally:
        proc.stdout.close()
        proc.wait()
    if not found:
        raise VmError(f"{deb.name} holds no boot/vmlinuz-*.")
    write_modules(modules, folder / "modules")
    return dest


def depends(module: bytes) -> list[str]:
    """The modules a kernel module names in its ``depends=`` (its .modinfo section)."""
    match = re.search(rb"(?:^|\x00)depends=([\w,-]*)\x00", module)
    return [d.replace("-", "_") for d in match.group(1).decode().split(",") if d] \
        if match else []


def load_order(modules: dict[str, bytes], wanted: tuple[str, ...] = NET_MODULES) -> list[str]:
    """``wanted`` and what they depend on, each after its dependencies.

    Raises:
        VmError: a module, or one it depends on, is not among ``modules``.
    """
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order or name in chain:
            return
        if name not in modules:
            raise VmError(f"the kernel package has no module {name} (needed by "
                          f"{chain[-1] if chain else 'the VM network'}).")
        for dependency in depends(modules[name]):
            visit(dependency, chain + (name,))
        order.append(name)

    for name in wanted:
        visit(name, ())
    return order


def write_modules(modules: dict[str, bytes], folder: Path) -> None:
    """The network card's modules as ``folder/NAME.ko`` and their load order in
    ``folder/order`` (written last: a folder with an order is whole)."""
    order = load_order({k.replace("-", "_"): v for k, v in modules.items()})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "order").unlink(missing_ok=True)
    for name in order:
        (folder / f"{name}.ko").write_bytes(modules.get(name) or modules[name.replace("_", "-")])
    (folder / "order").write_text("\n".join(order) + "\n")
