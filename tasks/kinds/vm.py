"""``vm:``: run a command in a virtual machine booted from an image step's result.

The image's file system becomes the VM's initramfs (``tasks.vm.initramfs``), identified by
the image's content: it is made again only when that content changes. The VM boots a
``kernel:`` step's kernel under KVM when KVM really works, TCG otherwise (the step says
which), runs the command, powers off; the output is checked as a ``run:`` step checks it.

It reruns when its image's content, its kernel, or its own keys change; its record holds
only the outcome, so what reads it reruns only if the outcome changed.
"""
from __future__ import annotations

import contextlib
import functools
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager, Iterator

from ..errors import ShellError, SpecError, VmError
from ..dsl.fields import Fields
from ..dsl.model import LocalRef, Step
from ..vm import boot as vm_boot
from ..vm import console as vm_console
from ..vm import initramfs
from . import expect as expect_mod
from . import records
from .actions import action, recorded
from ..progress import progress
from . import shells
from .base import Key, Kind, Session, ShellRequest, TaskContext
from .expect import Expect
from .kernel import KernelStep
from .reuse import image_facts
from .runtime import Runtime

#: The most memory a VM step may ask for (MB): a 16 GB VM on a 24 GB machine, under TCG.
MOST_MEMORY_MB = 16384


@dataclass(frozen=True, kw_only=True)
class VmStep(Step):
    """Boot a VM from an image step's result with a kernel step's kernel; run and check."""

    kind: ClassVar[str] = "vm"
    image: str  # the image step of this exercise
    kernel: str  # the kernel step of this exercise
    command: str  # a shell line, run by the guest's sh
    expect: Expect
    timeout: int
    memory: int  # MB
    initramfs: Path

    @property
    def source(self) -> str:
        return f"{self.exercise}:{self.image}"


def initramfs_for(rt: Runtime, step: VmStep, image_id: str, content: str,
                  before: dict[str, Any]) -> str:
    """The step's initramfs for this image content: the one made before if it still is that,
    else made now. Its sha256."""
    if before.get("image_content") == content and step.initramfs.is_file() and \
            before.get("initramfs_size") == step.initramfs.stat().st_size:
        progress(f"{step.initramfs.name}: made from the same image content; reused")
        return str(before["initramfs"])
    progress(f"making the initramfs from image {image_id[7:19]}")
    digest = initramfs.from_image(rt.engine, image_id, step.initramfs)
    progress(f"{step.initramfs.name}: {step.initramfs.stat().st_size / 1e6:.0f} MB "
             f"({digest[7:19]})")
    return digest


def run(rt: Runtime, step: VmStep, kernel: KernelStep) -> None:
    """Make (or reuse) the initramfs, boot, run the command, check its output, record it."""
    path = rt.record_path(step.task)
    before = records.read(records.local_of(path)) or {}
    with recorded(path, step.task) as recording:
        image, image_id = image_facts(rt, step.source, step.task)
        if not kernel.vmlinuz.is_file():
            raise VmError(f"{step.task}: the kernel {kernel.vmlinuz} is missing; run "
                          f"{kernel.task} again (doit forget {kernel.task}).")
        content = str(image.get("content_digest"))
        digest = initramfs_for(rt, step, image_id, content, before)
        accel = vm_boot.accelerator(kernel.vmlinuz)
        progress(f"booting {kernel.vmlinuz.name} with {step.initramfs.name} "
                 f"({accel.upper()}{', no KVM here' if accel == 'tcg' else ''}, "
                 f"{step.memory} MB)")
        booted = vm_boot.boot(kernel.vmlinuz, step.initramfs, step.command, step.timeout,
                              step.memory, accel)
        if booted.exit_code is None:
            said = "\n".join(booted.console.strip().splitlines()[-8:])
            raise VmError(f"{step.task}: the VM gave no report"
                          + (f" within {step.timeout} s" if booted.timed_out else "")
                          + (f"; the kernel said:\n{said}" if said else "") +
                          f"\nCheck 'memory:' (the unpacked image must fit in half of it) "
                          f"and 'timeout:' in {step.where.file}.")
        for line in booted.stdout.splitlines():
            progress(line)
        progress(f"the VM ran {booted.seconds:.1f} s ({accel}); the command "
                 f"{booted.guest_command_s or 0:.1f} s of it")
        expect_mod.verify(step.task, step.expect, booted.exit_code, booted.stdout,
                          booted.stderr, step.where.file)
        recording.data = {"exit_code": booted.exit_code, "stdout": booted.stdout,
                          "stderr": booted.stderr}
        recording.local = {"image_content": content, "initramfs": digest,
                           "initramfs_size": step.initramfs.stat().st_size, "accel": accel,
                           "seconds": round(booted.seconds, 2)}


@contextlib.contextmanager
def shell(rt: Runtime, step: VmStep, kernel: KernelStep, request: ShellRequest
          ) -> Iterator[Session]:
    """A vm step's shell: the VM booted as the step boots it, with a shell on its console
    (``-c``: its command, on the console), powered off when it exits. The step's initramfs
    is used when it was made from the image as it is now; else one is made for the shell in
    a temporary folder, removed at the end."""
    with contextlib.ExitStack() as made:
        with request.setting_up():
            image = records.read(rt.record_path(step.source)) or {}
            image_id = shells.recorded_image(rt, step.source)
            if not kernel.vmlinuz.is_file():
                raise ShellError(f"the kernel {kernel.vmlinuz} is missing: run `script/doit "
                                 f"{kernel.task}` first, then open the shell.")
            notes = records.read(records.local_of(rt.record_path(step.task))) or {}
            folder = Path(made.enter_context(tempfile.TemporaryDirectory(prefix="ac295-vm-")))
            initrd = step.initramfs
            if not (notes.get("image_content") == image.get("content_digest")
                    and initrd.is_file() and notes.get("initramfs_size") == initrd.stat().st_size):
                initrd = folder / "shell.cpio"
                progress(f"making an initramfs of {step.source}'s image for the shell")
                initramfs.from_image(rt.engine, image_id, initrd)
            accel = vm_boot.accelerator(kernel.vmlinuz)
        size = shutil.get_terminal_size()
        report = folder / "report"
        line = vm_console.kernel_line(step.command if request.own_command else None,
                                      size.lines, size.columns)
        yield Session(vm_console.argv(kernel.vmlinuz, initrd, line, step.memory, accel, report),
                      f"{step.task}'s VM ({accel.upper()}, {step.memory} MB), booting "
                      f"{step.source}'s image with a shell on its console, powered off when "
                      "it exits", functools.partial(vm_console.exit_code, report))


class Vm(Kind[VmStep]):
    name = "vm"
    shape = "Msquare"
    keyword = Key("vm", "string", "the image step whose file system the VM boots",
                  required=True)
    keys = (Key("kernel", "string", "the kernel step whose kernel boots", required=True),
            Key("command", "command", "the command, run by the guest's sh (a list of words, "
                "or one line)", required=True),
            expect_mod.KEY,
            Key("timeout", "integer", "seconds the whole boot may take (default 300)"),
            Key("memory", "integer", "the VM's memory in MB (default 1024, at most "
                f"{MOST_MEMORY_MB}; the unpacked image must fit in half of it)"))
    summary = "boot a VM (qemu) from an image, run a command in it and check its output"
    lock_fields = ("exit_code", "stdout", "stderr")
    lock_doc = "`exit_code`, `stdout`, `stderr` of the command in the VM"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> VmStep:
        words = f.command("command") or ()
        state = Path(f.variables["state"])
        memory = f.positive("memory") or 1024
        if memory > MOST_MEMORY_MB:
            raise SpecError(f.where("memory"), f"{memory} MB is more than a VM here may take.",
                            f"Give at most {MOST_MEMORY_MB} (MB, not bytes).")
        return VmStep(**common, image=f.required("vm"), kernel=f.required("kernel"),
                      command=shlex.join(words),
                      expect=expect_mod.parse(f), timeout=f.positive("timeout") or 300,
                      memory=memory,
                      initramfs=state / "vm" / common["exercise"] / f"{common['name']}.cpio")

    def local_refs(self, step: VmStep) -> list[LocalRef]:
        return [LocalRef("vm", step.image, "image"), LocalRef("kernel", step.kernel, "kernel")]

    def task(self, step: VmStep, ctx: TaskContext) -> dict[str, Any]:
        kernel = ctx.step(step.kernel)
        assert isinstance(kernel, KernelStep)
        return {"actions": [action(run, ctx.rt, step, kernel)], "targets": [str(step.initramfs)]}

    def shell(self, step: VmStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        kernel = ctx.step(step.kernel)
        assert isinstance(kernel, KernelStep)
        return shell(ctx.rt, step, kernel, request)
