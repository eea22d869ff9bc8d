"""A VM with a shell on its console, for ``doit shell`` of a ``vm:`` step.

The same kernel and initramfs as the step's boot (``tasks.vm.boot``), the same ``/init``
(``tasks.vm.initramfs``): only the command differs. It runs the guest's shell (bash where
the image has it) on the serial console, ttyS0, as a session leader whose controlling
terminal the console is, so job control and Ctrl-C work in the guest. qemu connects ttyS0
to this terminal (``signal=off``: Ctrl-C goes to the guest, not to qemu); when the shell
exits, ``/init`` writes its report to ttyS1 (a file here: the shell's exit code) and powers
the VM off, and qemu ends. The guest has no time limit.
"""
from __future__ import annotations

import base64
import shlex
from pathlib import Path

from ..errors import VmError
from .boot import APPEND, MAX_COMMAND, QEMU, parse_report

#: The guest's interactive shell: bash where the image has it, else sh.
GUEST_SHELL = "if command -v bash >/dev/null 2>&1; then exec bash -i; fi; exec sh -i"


def guest_line(command: str | None, rows: int = 24, columns: int = 80) -> str:
    """The shell line ``/init`` runs: the terminal's size set on the console, then the
    shell (or ``command``, interactively), with the console as its controlling terminal."""
    inner = (f"/.vmx/busybox stty rows {int(rows)} cols {int(columns)} 2>/dev/null; "
             + (command if command else GUEST_SHELL))
    return (f"exec /.vmx/busybox setsid -c /.vmx/busybox sh -c {shlex.quote(inner)} "
            "<>/dev/ttyS0 >&0 2>&1")


def kernel_line(command: str | None, rows: int = 24, columns: int = 80) -> str:
    """The kernel command line of a console session (no guest time limit).

    Raises:
        VmError: the command does not fit on a kernel command line.
    """
    encoded = base64.b64encode(guest_line(command, rows, columns).encode()).decode()
    if len(encoded) > MAX_COMMAND:
        raise VmError("the command is too long for the kernel command line; put it in a "
                      "script in the image and run that.")
    return f"{APPEND} vmx_timeout=0 vmx_cmd={encoded}"


def argv(kernel: Path, initrd: Path, line: str, memory_mb: int, accel: str,
         report: Path) -> list[str]:
    """The qemu command of a console session: ttyS0 on this terminal, ttyS1 to ``report``."""
    return [QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-machine", "pc",
            "-accel", accel, "-m", str(memory_mb), "-smp", "1", "-no-reboot", "-nic", "none",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", line,
            "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
            "-serial", f"file:{report}", "-monitor", "none"]


def exit_code(report: Path, qemu_code: int) -> int:
    """The guest shell's exit code, from its report; qemu's own when there is none (the VM
    did not get as far, or qemu failed)."""
    try:
        found = parse_report(report.read_text(errors="replace"))[0]
    except OSError:
        found = None
    return qemu_code if found is None else found
