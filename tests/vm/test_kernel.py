"""The network card's modules taken out of Debian's kernel package: which, in what order."""
from __future__ import annotations

import pytest

from tasks.errors import VmError
from tasks.vm import kernel


def module(depends: str) -> bytes:
    """A module's bytes as far as its .modinfo section goes (what depends() reads)."""
    return b"\x7fELF junk\x00license=GPL\x00depends=" + depends.encode() + b"\x00name=x\x00"


# virtio_net -> net_failover -> failover; virtio_pci -> virtio_pci_*_dev, virtio, virtio_ring
MODULES = {"virtio": module(""), "virtio_ring": module(""), "failover": module(""),
           "net_failover": module("failover"), "virtio_pci_modern_dev": module("virtio"),
           "virtio_pci_legacy_dev": module(""),
           "virtio_pci": module("virtio_pci_modern_dev,virtio_pci_legacy_dev,virtio,virtio_ring"),
           "virtio_net": module("net_failover,virtio,virtio_ring"), "e1000": module("")}


def test_depends_reads_the_modinfo_field():
    assert kernel.depends(module("a,b-c")) == ["a", "b_c"]
    assert kernel.depends(module("")) == [] and kernel.depends(b"no modinfo") == []


def test_each_module_comes_after_what_it_needs_and_nothing_else_is_taken():
    order = kernel.load_order(MODULES)
    assert set(order) == set(MODULES) - {"e1000"}
    for name in order:
        for needed in kernel.depends(MODULES[name]):
            assert order.index(needed) < order.index(name), (needed, name)


def test_a_missing_module_is_named():
    with pytest.raises(VmError, match="no module failover .needed by net_failover"):
        kernel.load_order({k: v for k, v in MODULES.items() if k != "failover"})


def test_the_modules_are_written_with_their_order_last(tmp_path):
    kernel.write_modules(MODULES, tmp_path / "m")
    order = (tmp_path / "m" / "order").read_text().split()
    assert order == kernel.load_order(MODULES)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(
        [f"{n}.ko" for n in order] + ["order"])
    assert (tmp_path / "m" / "virtio_net.ko").read_bytes() == MODULES["virtio_net"]
