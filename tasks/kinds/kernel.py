"""``kernel:``: a Debian kernel for the VMs, downloaded as a package (never installed).

Its record holds what the kernel is: the package and version (as a one-entry package
``manifest``, so that ``doit verify`` puts a newer kernel down to Debian's archive, as it
does for the base image's packages) and the sha256 of ``vmlinuz``. It stays up to date while
that file is there unchanged (with ``modules/``, the network card's modules, beside it);
a newer kernel in the archive is fetched by ``doit forget``
of the step, or ``-a``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager

from ..digests import file_sha256
from ..dsl.fields import Fields
from ..dsl.model import Exercise, Role, Step
from . import records
from .actions import Check, Verdict, action, fresh, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Session, ShellRequest, TaskContext
from .shells import instead, users_of
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class KernelStep(Step):
    """Fetch the kernel a Debian metapackage names into ``folder``."""

    kind: ClassVar[str] = "kernel"
    package: str
    folder: Path

    @property
    def vmlinuz(self) -> Path:
        return self.folder / "vmlinuz"


def _stat(path: Path) -> list[int]:
    info = os.stat(path)
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def uptodate(rt: Runtime, step: KernelStep) -> Verdict:
    """Up to date iff vmlinuz is there with the recorded sha256 (its stat saves rehashing),
    and the network card's modules beside it."""
    path = rt.record_path(step.task)
    record = records.read(path)
    notes = records.read(records.local_of(path)) or {}
    if record is None:
        return stale("it has no record (never ran, or its last run failed)")
    if not step.vmlinuz.is_file():
        return stale(f"{step.vmlinuz} is missing")
    if notes.get("stat") != _stat(step.vmlinuz) and \
            "sha256:" + file_sha256(step.vmlinuz) != record.get("sha256"):
        return stale(f"{step.vmlinuz} is not the kernel it fetched")
    if not (step.folder / "modules" / "order").is_file():
        return stale(f"the network card's modules are not beside {step.vmlinuz} (a kernel "
                     "fetched before they were kept)")
    return fresh(f"{record.get('manifest')} at {step.vmlinuz}")


def run(rt: Runtime, step: KernelStep) -> None:
    """Download the kernel package the metapackage names, take its vmlinuz, record it."""
    from ..vm import kernel as kernels  # only a run needs it (checks do not)

    with recorded(rt.record_path(step.task), step.task) as recording:
        progress(f"apt-get download {step.package}")
        found = kernels.fetch(step.folder, step.package)
        progress(f"{found.package} {found.version}: {found.path} ({found.sha256[7:19]})")
        recording.data = {"manifest": [f"{found.package}={found.version}"],
                          "sha256": found.sha256}
        recording.local = {"stat": _stat(found.path)}


class Kernel(Kind[KernelStep]):
    name = "kernel"
    shape = "cds"
    keyword = Key("kernel", "string", "the Debian kernel metapackage, e.g. "
                  "linux-image-cloud-amd64", required=True)
    provides: ClassVar[frozenset[Role]] = frozenset({"kernel"})
    summary = "fetch a Debian kernel for VMs (apt-get download; not installed)"
    lock_fields = ("manifest", "sha256")
    lock_doc = "`manifest` (the package, name=version) and `sha256` of the kernel"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> KernelStep:
        package = f.required("kernel")
        state = Path(f.variables["state"])
        return KernelStep(**common, package=package,
                          folder=state / "vm" / common["exercise"] / common["name"])

    def makes(self, step: KernelStep, exercise: Exercise) -> Makes:
        return Makes(files=(step.folder,))

    def task(self, step: KernelStep, ctx: TaskContext) -> dict[str, Any]:
        return {"actions": [action(run, ctx.rt, step)],
                "uptodate": [Check("the fetched kernel", uptodate, ctx.rt, step)]}

    def shell(self, step: KernelStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        return instead(step.task, f"fetches the kernel {step.package}",
                       users_of(ctx.exercise, step.name, "kernel"), "a VM that boots it")
