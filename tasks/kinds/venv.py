"""``venv:``: a virtual environment made from a spec (requirements.txt, environment.yml) or a lock.

It is made from scratch when its spec (or source lock), its interpreter's version or its
exported lock changes, or its folder is gone. One made from another step's lock must have the
same ``pip freeze`` as that step (Maggie and John). The record is written last, so a
creation that was interrupted is never taken as done.
"""
from __future__ import annotations

import contextlib
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, ContextManager, Iterator

from ..atomic import write_text
from ..digests import text_sha256
from ..errors import RecordMissing, ShellError, SpecError, VenvError
from . import records
from ..dsl import envspec
from ..dsl.fields import Fields
from ..dsl.model import Exercise, LocalRef, Role, Step
from ..venvs import envs
from .actions import Check, Verdict, action, fresh, recorded, stale
from ..progress import progress
from .base import Key, Kind, Makes, Session, ShellRequest, TaskContext
from .shells import no_command
from .runtime import Runtime


@dataclass(frozen=True, kw_only=True)
class VenvStep(Step):
    """A virtual environment; exactly one of ``spec`` and ``from_lock`` is set."""

    kind: ClassVar[str] = "venv"
    path: Path
    spec: Path | None
    from_lock: str | None  # name of another venv step of this exercise
    lock: Path  # the exported lock: a target
    python: str


def inputs(step: VenvStep, source: VenvStep | None) -> str:
    """Digest of what the environment is made from: the spec file, or the source's lock."""
    origin = step.spec if step.spec is not None else source.lock if source else None
    if origin is None or not origin.is_file():
        raise RecordMissing(f"{step.task}: {origin} is missing; run the step that makes it.")
    return text_sha256(origin.read_text(encoding="utf-8"))


def uptodate(rt: Runtime, step: VenvStep, source: VenvStep | None) -> Verdict:
    """Up to date iff spec (or source lock), interpreter and lock are as recorded, and the
    environment is still there."""
    path = rt.record_path(step.task)
    record = records.read(path)
    notes = records.read(records.local_of(path)) or {}
    if record is None or not notes:
        return stale("it has no record (never ran, or its last run failed)")
    if not (step.path / "bin" / "python").exists():
        return stale(f"the environment {step.path} is gone")
    if not step.lock.is_file():
        return stale(f"its lock {step.lock} is gone")
    origin = step.spec.name if step.spec else f"{source.task if source else '?'}'s lock"
    if notes.get("inputs") != inputs(step, source):
        return stale(f"{origin} changed")
    python = envs.interpreter_version(step.python)
    if record.get("python") != python:
        return stale(f"'{step.python}' is now Python {python}, not {record.get('python')}")
    if record.get("lock") != text_sha256(step.lock.read_text(encoding="utf-8")):
        return stale(f"its lock {step.lock.name} was edited")
    return fresh(f"{origin}, Python {python} and the lock as recorded")


def run(rt: Runtime, step: VenvStep, source: VenvStep | None) -> None:
    """Make the environment from scratch, install, export (or check) the lock, record."""
    with recorded(rt.record_path(step.task), step.task) as recording:
        python = envs.interpreter_version(step.python)
        digest = inputs(step, source)
        if step.spec is not None:
            spec = envspec.load(step.spec)
            if spec.python and not (python + ".").startswith(spec.python + "."):
                raise VenvError(f"{step.task}: {step.spec.name} asks for python {spec.python} "
                                f"but '{step.python}' is {python}. Set 'python:' in the step to "
                                f"a python{spec.python} interpreter.")
            envs.create(step.path, step.python, progress)
            lock_text = envs.install_spec(step.path, spec, progress)
        else:
            assert source is not None
            envs.create(step.path, step.python, progress)
            envs.install_lock(step.path, source.lock, progress)
            lock_text = source.lock.read_text(encoding="utf-8")
        frozen = envs.freeze(step.path)
        if source is not None:
            expected = (records.read(rt.record_path(source.task)) or {}).get("freeze")
            if frozen != expected:
                raise VenvError(f"{step.task}: the environment made from {source.task}'s lock "
                                f"differs from it.\n--- {source.task} ---\n{expected}--- "
                                f"{step.task} ---\n{frozen}")
            progress(f"same pip freeze as {source.task}: {len(frozen.splitlines())} package(s)")
        write_text(step.lock, lock_text)
        # What it is (the next steps read it) in the record; what it was made from in the
        # notes: a spec edit that leads to the same lock leaves John's copy up to date.
        recording.data = {"python": python, "lock": text_sha256(lock_text), "freeze": frozen}
        recording.local = {"inputs": digest}
        for line in frozen.splitlines():
            progress(f"  {line}")


def rc_text(venv: Path, folder: Path) -> str:
    """The start-up file of a venv step's subshell: the person's own (~/.bashrc), then the
    environment activated, in the exercise folder."""
    return ('[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"\n'
            f". {shlex.quote(str(venv / 'bin' / 'activate'))}\n"
            f"cd {shlex.quote(str(folder))}\n")


def subshell_argv(rc: Path, bash: str | None) -> list[str]:
    """A subshell that reads ``rc`` first: bash's ``--rcfile``, else sh's ``ENV``."""
    if bash:
        return [bash, "--rcfile", str(rc), "-i"]
    return ["env", f"ENV={rc}", "sh", "-i"]


@contextlib.contextmanager
def shell(rt: Runtime, step: VenvStep, folder: Path, request: ShellRequest
          ) -> Iterator[Session]:
    """A venv step's shell: a subshell of this machine's with the environment active, in the
    exercise folder; its start-up file is removed when it ends."""
    with request.setting_up():  # a run may be making the environment anew
        if records.read(rt.record_path(step.task)) is None or \
                not (step.path / "bin" / "activate").is_file():
            raise ShellError(f"{step.task} has not made {step.path} here: run "
                             f"`script/doit {step.task}` first, then open the shell.")
    with tempfile.TemporaryDirectory(prefix="ac295-shell-") as tmp:
        rc = Path(tmp) / "rc.sh"
        rc.write_text(rc_text(step.path, folder), encoding="utf-8")
        yield Session(subshell_argv(rc, shutil.which("bash")),
                      f"a subshell with {step.path} active ({step.task}), in {folder}")


def source_of(exercise: Exercise, step: VenvStep) -> VenvStep | None:
    """The venv step whose lock ``step`` is made from, if any."""
    source = exercise.steps.get(step.from_lock) if step.from_lock else None
    return source if isinstance(source, VenvStep) else None


class Venv(Kind[VenvStep]):
    name = "venv"
    shape = "cylinder"
    keyword = Key("venv", "string", "the environment's folder", required=True)
    keys = (Key("spec", "string", "requirements.txt or environment.yml it is made from"),
            Key("from_lock", "string", "a venv step whose lock it installs exactly"),
            Key("lock", "string", "the exported lock (default: <venv folder>.lock)"),
            Key("python", "string", "the interpreter (default python3)"))
    provides: ClassVar[frozenset[Role]] = frozenset({"lock"})
    summary = "a virtual environment from a spec or a lock (virtualenv)"
    lock_fields = ("lock", "freeze")
    lock_doc = "`lock` (the exported lock's sha256) and `freeze` (`pip freeze` of the environment)"

    def parse(self, f: Fields, common: dict[str, Any], folder: Path) -> VenvStep:
        if ("spec" in f.node) == ("from_lock" in f.node):
            raise SpecError(f.where("venv"), "a venv step needs either 'spec:' "
                            "(requirements.txt or environment.yml) or 'from_lock:' (another "
                            "venv step), not both or neither.")
        spec_file = f.path("spec", f.required("spec"), folder) if "spec" in f.node else None
        if spec_file is not None:
            if not spec_file.is_file():
                raise SpecError(f.where("spec"), f"no file {spec_file}.")
            envspec.load(spec_file)  # its errors are spec errors too: report them now
        path = f.path("venv", f.required("venv"), folder)
        lock = f.text("lock")
        return VenvStep(**common, path=path, spec=spec_file, from_lock=f.text("from_lock"),
                        lock=f.path("lock", lock, folder) if lock else path.with_name(
                            path.name + ".lock"),
                        python=f.text("python") or "python3")

    def parse_inputs(self, step: VenvStep) -> tuple[Path, ...]:
        return (step.spec,) if step.spec else ()

    def local_refs(self, step: VenvStep) -> list[LocalRef]:
        return [LocalRef("from_lock", step.from_lock, "lock")] if step.from_lock else []

    def makes(self, step: VenvStep, exercise: Exercise) -> Makes:
        return Makes(files=(step.lock,))

    def task(self, step: VenvStep, ctx: TaskContext) -> dict[str, Any]:
        source = source_of(ctx.exercise, step)
        return {"file_dep": [str(step.spec)] if step.spec is not None else [],
                "targets": [str(step.lock)],
                "actions": [action(run, ctx.rt, step, source)],
                "uptodate": [Check("spec, interpreter, lock and environment", uptodate, ctx.rt,
                                   step, source)]}

    def shell(self, step: VenvStep, ctx: TaskContext, request: ShellRequest
              ) -> ContextManager[Session] | str:
        no_command(step.task, request, "a virtual environment")
        return shell(ctx.rt, step, ctx.exercise.folder, request)
