"""Boot a kernel with an initramfs root in qemu, run one command, read back what it printed.

qemu runs with no disk, no network and two serial ports: ttyS0 carries the kernel's console
(``quiet loglevel=1``: only panics), ttyS1 carries the report ``/init`` writes (stdout and
stderr in base64 between markers, the exit code, the guest's uptimes), so kernel messages
never mix into the program's output. The guest powers off with ``reboot -f`` and qemu's
``-no-reboot`` turns that into qemu's exit.

KVM is used when it really works. ``/dev/kvm`` can exist while guests hang (a nested machine
whose CPU has no vmx/svm), so a tiny boot is tried once per host boot, and the answer kept
in ``~/.cache/ac295/kvm-<boot id>``; TCG (qemu's software CPU) is the fallback.
``AC295_VM_ACCEL=kvm|tcg`` skips the probe.
"""
from __future__ import annotations

import base64
import ctypes
import os
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import VmError
from .initramfs import MARKER

QEMU = "qemu-system-x86_64"
#: The kernel command line: console on ttyS0, only emergencies shown (``loglevel=0`` would
#: hide panics too), reboot at once on a panic, no timer check (TCG under load fails it).
APPEND = "console=ttyS0 quiet loglevel=1 panic=-1 no_timer_check rdinit=/init"
#: The kernel command line is at most 2048 bytes on x86; the command goes in it.
MAX_COMMAND = 1500


@dataclass(frozen=True)
class Booted:
    """What a boot gave: the command's outcome, and how the VM ran."""

    exit_code: int | None  # None: no report came back (a panic, a host-side timeout)
    stdout: str
    stderr: str
    accel: str  # "kvm" or "tcg"
    console: str  # what the kernel said (for a failure's message)
    timed_out: bool
    seconds: float  # qemu's start to its exit
    guest_command_s: float | None  # /init's start to the command's end, in the guest


def _die_with_parent() -> None:
    """In qemu, before exec: be killed when the Python process dies (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def _probe_file() -> Path:
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ac295" / f"kvm-{boot_id}"


def accelerator(kernel: Path, timeout: float = 5.0) -> str:
    """"kvm" if a guest really runs under KVM here, else "tcg" (see the module)."""
    forced = os.environ.get("AC295_VM_ACCEL", "")
    if forced in ("kvm", "tcg"):
        return forced
    probe = _probe_file()
    try:
        known = probe.read_text().strip()
        if known in ("kvm", "tcg"):
            return known
    except OSError:
        pass
    works = False
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        command = [QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-accel", "kvm",
                   "-m", "128", "-no-reboot", "-kernel", str(kernel), "-append",
                   "console=ttyS0 loglevel=1 panic=-1 rdinit=/none", "-serial", "stdio",
                   "-monitor", "none"]
        try:  # a working KVM reaches "no root to mount" and reboots within a second
            found = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=timeout, preexec_fn=_die_with_parent)
            works = b"Kernel panic" in found.stdout
        except subprocess.TimeoutExpired:
            works = False
    answer = "kvm" if works else "tcg"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text(answer + "\n")
    except OSError:
        pass
    return answer


def parse_report(text: str) -> tuple[int | None, bytes, bytes, bool, float | None]:
    """(exit code, stdout, stderr, whether the guest's timeout fired, guest command seconds)
    from ``/init``'s report; lines that are not the report's are ignored."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    exit_code: int | None = None
    timed_out = False
    seconds: float | None = None
    for line in text.replace("\r", "").split("\n"):
        if line in (f"{MARKER}-STDOUT-BEGIN", f"{MARKER}-STDERR-BEGIN"):
            current = line.split("-")[1]
            sections[current] = []
        elif line in (f"{MARKER}-STDOUT-END", f"{MARKER}-STDERR-END"):
            current = None
        elif line == f"{MARKER}-GUEST-TIMEOUT":
            timed_out = True
        elif line.startswith(f"{MARKER}-UPTIME="):
            start, _, end = line.split("=", 1)[1].partition(",")
            try:
                seconds = float(end) - float(start)
            except ValueError:
                seconds = None
        elif line.startswith(f"{MARKER}-EXIT="):
            try:
                exit_code = int(line.split("=", 1)[1])
            except ValueError:
                exit_code = None
        elif current is not None:
            sections[current].append(line.strip())
    decoded = {k: base64.b64decode("".join(v)) for k, v in sections.items()}
    return exit_code, decoded.get("STDOUT", b""), decoded.get("STDERR", b""), timed_out, seconds


def command_line(command: str, timeout: int) -> str:
    """The kernel command line that runs ``command`` (a shell line) with a guest timeout."""
    encoded = base64.b64encode(command.encode()).decode()
    if len(encoded) > MAX_COMMAND:
        raise VmError(f"the command is too long for the kernel command line ({len(command)} "
                      "bytes); put it in a script in the image and run that.")
    return f"{APPEND} vmx_timeout={max(1, timeout - 10)} vmx_cmd={encoded}"


def _argv(kernel: Path, initrd: Path, append: str, accel: str, memory_mb: int, cpus: int,
          nic: str, report: str) -> list[str]:
    return [QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-machine", "pc",
            "-accel", accel, "-m", str(memory_mb), "-smp", str(cpus), "-no-reboot",
            "-nic", nic, "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
            "-serial", "stdio", "-serial", report, "-monitor", "none"]


def boot(kernel: Path, initrd: Path, command: str, timeout: int = 300, memory_mb: int = 1024,
         accel: str | None = None, cpus: int = 1) -> Booted:
    """Boot, run ``command`` in the guest, power off; the outcome.

    The guest stops the command ``timeout - 10`` s in (a report with partial output still
    comes back); qemu is killed at ``timeout``. qemu runs in a session of its own and dies
    with this process; any exception (Ctrl-C included) kills it.

    Raises:
        VmError: qemu is missing.
    """
    accel = accel or accelerator(kernel)
    with tempfile.TemporaryDirectory(prefix="ac295-vm-") as folder:
        report = Path(folder) / "report"
        argv = _argv(kernel, initrd, command_line(command, timeout), accel, memory_mb, cpus,
                     "none", f"file:{report}")
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=_die_with_parent)
        except FileNotFoundError:
            raise VmError(f"{QEMU} is missing: run script/bootstrap (it installs Debian's "
                          "qemu-system-x86).") from None
        timed_out = False
        try:
            try:
                console, _ = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                proc.kill()
                console, _ = proc.communicate()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        seconds = time.monotonic() - start
        text = report.read_text(errors="replace") if report.exists() else ""
    said = console.decode(errors="replace")
    if f"{MARKER}-EXIT=" not in text:
        text = said  # no second serial port: /init wrote the report to the console
    exit_code, out, err, guest_timeout, guest_s = parse_report(text)
    return Booted(exit_code, out.decode(errors="replace"), err.decode(errors="replace"), accel,
                  said, timed_out or guest_timeout, seconds, guest_s)


@contextmanager
def serving(kernel: Path, initrd: Path, command: str, ports: Sequence[int],
            memory_mb: int = 1024, cpus: int = 1, accel: str | None = None,
            timeout: int = 3600) -> Iterator[subprocess.Popen[bytes]]:
    """A VM running ``command`` (a server) with a network card on qemu's user network, each
    of ``ports`` on 127.0.0.1 forwarded to the same port of the guest, until the block ends;
    qemu is killed then. The guest loads the card's modules from its initramfs
    (``vmx_net=1``; ``initramfs.from_image(modules=...)``).

    Raises:
        VmError: qemu is missing.
    """
    accel = accel or accelerator(kernel)
    nic = "user,model=virtio-net-pci," + ",".join(
        f"hostfwd=tcp:127.0.0.1:{port}-:{port}" for port in ports)
    argv = _argv(kernel, initrd, command_line(command, timeout) + " vmx_net=1", accel,
                 memory_mb, cpus, nic, "null")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)
    except FileNotFoundError:
        raise VmError(f"{QEMU} is missing: run script/bootstrap (it installs Debian's "
                      "qemu-system-x86).") from None
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
