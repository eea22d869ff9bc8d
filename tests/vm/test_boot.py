"""The VM's report, its kernel command line and the choice of accelerator (no qemu here)."""
from __future__ import annotations

import base64

import pytest

from tasks.errors import VmError
from tasks.vm import boot


def report(stdout: bytes, stderr: bytes, code: int, extra: str = "") -> str:
    def b64(data: bytes) -> str:
        text = base64.b64encode(data).decode()
        return "\n".join(text[i:i + 76] for i in range(0, len(text), 76))

    return (f"[    2.1] some kernel line\nAC295-STDOUT-BEGIN\n{b64(stdout)}\nAC295-STDOUT-END\n"
            f"AC295-STDERR-BEGIN\n{b64(stderr)}\nAC295-STDERR-END\n{extra}"
            f"AC295-UPTIME=3.50,5.75\nAC295-EXIT={code}\nreboot: Restarting system\n")


def test_a_report_gives_back_the_exact_bytes():
    weird = b"Answer: 2640\nAC295-EXIT=0\n\x00\xff" + b"x" * 5000
    code, out, err, timed_out, seconds = boot.parse_report(report(weird, b"warn\n", 3))
    assert (code, out, err, timed_out, seconds) == (3, weird, b"warn\n", False, 2.25)


def test_a_guest_timeout_is_reported():
    assert boot.parse_report(report(b"part", b"", 143, "AC295-GUEST-TIMEOUT\n"))[3] is True


def test_no_report_is_no_exit_code():
    assert boot.parse_report("Kernel panic - not syncing: VFS\n") == (None, b"", b"", False,
                                                                      None)


def test_the_command_travels_in_base64_and_the_guest_stops_it_first():
    line = boot.command_line("python3 -c 'print(1)'", 120)
    assert "vmx_timeout=110" in line and line.startswith(boot.APPEND)
    encoded = line.rsplit("vmx_cmd=", 1)[1]
    assert base64.b64decode(encoded).decode() == "python3 -c 'print(1)'"


def test_a_command_too_long_for_the_kernel_is_refused():
    with pytest.raises(VmError, match="too long"):
        boot.command_line("echo " + "x" * 2000, 60)


@pytest.mark.parametrize("forced", ["kvm", "tcg"])
def test_the_accelerator_can_be_forced(monkeypatch, tmp_path, forced):
    monkeypatch.setenv("AC295_VM_ACCEL", forced)
    assert boot.accelerator(tmp_path / "no-kernel") == forced


def test_the_probe_is_asked_once_per_host_boot(monkeypatch, tmp_path):
    monkeypatch.delenv("AC295_VM_ACCEL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []
    monkeypatch.setattr(boot.os, "access", lambda *a: calls.append(a) or False)
    assert boot.accelerator(tmp_path / "k") == "tcg"  # no usable /dev/kvm: TCG, remembered
    assert boot.accelerator(tmp_path / "k") == "tcg"
    assert len(calls) == 1
    assert list((tmp_path / "ac295").iterdir())[0].read_text() == "tcg\n"


def test_a_serving_vm_has_a_card_on_the_user_network_with_forwarded_ports(monkeypatch,
                                                                          tmp_path):
    started: list[list[str]] = []

    class Proc:
        pid = 1

        def __init__(self, argv, **kwargs):
            started.append(argv)
            self.killed = False

        def poll(self):
            return None

        def kill(self):
            started.append(["killed"])

        def wait(self):
            return -9

    monkeypatch.setattr(boot.subprocess, "Popen", Proc)
    with boot.serving(tmp_path / "k", tmp_path / "i", "serve 1 2", [4001, 4002], cpus=2,
                      memory_mb=2048, accel="tcg"):
        pass
    argv = started[0]
    assert argv[argv.index("-nic") + 1] == ("user,model=virtio-net-pci,"
                                            "hostfwd=tcp:127.0.0.1:4001-:4001,"
                                            "hostfwd=tcp:127.0.0.1:4002-:4002")
    assert argv[argv.index("-smp") + 1] == "2" and argv[argv.index("-m") + 1] == "2048"
    assert argv[argv.index("-append") + 1].endswith(" vmx_net=1")
    assert started[-1] == ["killed"]
