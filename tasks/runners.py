"""Run one command in a runtime of the lecture's ladder and say what it did: the public entry
point for exercises that need the project's machinery (the compare exercise uses it).

    python -m tasks.runners RUNTIME [OPTIONS] [--timeout S] [--json] -- COMMAND [ARG...]
    python -m tasks.runners RUNTIME [OPTIONS] --prepare     make what it needs, then exit
    python -m tasks.runners RUNTIME [OPTIONS] --facts       its versions, as JSON

Run it from the project's root with the project's Python (``.venv/bin/python``). Runtimes:

    native     the command on this machine            --cwd DIR
    docker     ``docker run --rm --network none``      --image IMAGE
    rootless   podman, as an unprivileged user, from   --archive FILE (a ``docker save``)
               a single-file image, no network
    vm         qemu booting Debian's kernel with the   --image IMAGE --kernel VMLINUZ
               image's file system as its root         [--initramfs FILE]

What a runtime needs before it can run (the VM's initramfs, the image in podman's storage,
the rootless user) is made first, once, and is not in the time. The time is the wall time
of the run alone: launch to exit, start-up included. Without ``--json``, the command's output
is passed through and the exit status is the command's; with it, one JSON object is printed:
``runtime``, ``command``, ``exit_code`` (null when the VM sent no report), ``stdout``,
``stderr``, ``seconds``, ``details`` (the VM's accelerator and console, podman's uid) and
``why`` (when there is no exit code). When the runner itself fails (no such image, podman or
qemu missing), it says why on stderr and exits 125, as ``docker run`` does.

A new runtime is a ``Runtime`` subclass below and one line in ``RUNTIMES``.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import Ac295Error, EngineError, VmError

FAILED = 125  # the runner itself failed (as docker run and podman run say it)


@dataclass(frozen=True)
class Ran:
    """What a command did in a runtime."""

    exit_code: int | None
    stdout: str
    stderr: str
    details: dict[str, Any] = field(default_factory=dict)
    why: str = ""  # when there is no exit code: why not


def say(line: str) -> None:
    print(f"runners: {line}", file=sys.stderr, flush=True)


def _version(command: list[str]) -> str:
    try:
        found = subprocess.run(command, capture_output=True, text=True)
    except OSError:
        return "missing"
    return found.stdout.strip().splitlines()[0] if found.stdout.strip() else "missing"


class Runtime:
    """One runtime: its options, what it makes before a run, the run, its facts."""

    name: ClassVar[str]
    help: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()  # options a run cannot do without

    def options(self, parser: argparse.ArgumentParser) -> None:
        """Add the options this runtime takes."""

    def prepare(self, args: argparse.Namespace) -> None:
        """Make what a run needs (once: cheap when it is there). Not timed."""

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> Ran:
        """Run ``command``; this call is what is timed."""
        raise NotImplementedError

    def facts(self, args: argparse.Namespace) -> dict[str, str]:
        """What describes this runtime on this machine (versions), for a results table."""
        return {}


class Native(Runtime):
    name = "native"
    help = "the command on this machine"

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--cwd", type=Path, default=Path.cwd(),
                            help="the folder it runs in (default: this one)")

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> Ran:
        try:
            found = subprocess.run(command, cwd=args.cwd, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=timeout)
        except OSError as err:
            raise Ac295Error(f"cannot run {command[0]}: {err.strerror or err}.") from None
        except subprocess.TimeoutExpired:
            raise Ac295Error(f"{command[0]} did not finish within {timeout} s.") from None
        return Ran(found.returncode, found.stdout.decode(errors="replace"),
                   found.stderr.decode(errors="replace"))


class Docker(Runtime):
    name = "docker"
    help = "docker run --rm --network none, from an image"
    required = ("image",)

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--image", help="an image id or tag in the engine")

    def prepare(self, args: argparse.Namespace) -> None:
        from .engine.client import Engine

        if Engine().image_id(args.image) is None:  # docker run would try Docker Hub
            raise EngineError(f"the engine has no image {args.image}.")

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> Ran:
        from .engine import containers

        found = containers.docker_run(args.image, command, timeout=timeout)
        return Ran(found.exit_code, found.stdout, found.stderr)

    def facts(self, args: argparse.Namespace) -> dict[str, str]:
        from .engine.client import Engine

        info = Engine().server()
        return {"docker": f"{info.get('ServerVersion')} ({info.get('Driver')}, "
                          f"cgroup v{info.get('CgroupVersion', '1')})"}


class Rootless(Runtime):
    name = "rootless"
    help = "podman as an unprivileged user, from a docker save archive, no network"
    required = ("archive",)

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--archive", type=Path, help="the image as one file (docker save)")

    def prepare(self, args: argparse.Namespace) -> None:
        from .engine import rootless

        rootless.ensure_user()
        args.podman_image = rootless.load(args.archive)

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> Ran:
        from .engine import rootless

        found = rootless.run(args.podman_image, command, {}, timeout)
        return Ran(found.exit_code, found.stdout, found.stderr, {"host_uid": found.host_uid})

    def facts(self, args: argparse.Namespace) -> dict[str, str]:
        return {"podman": _version(["podman", "--version"])}


class Vm(Runtime):
    name = "vm"
    help = "qemu with Debian's kernel, the image's file system as its root"
    required = ("image", "kernel")

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--image", help="an image id or tag in the engine")
        parser.add_argument("--kernel", type=Path, help="the kernel (vmlinuz) to boot")
        parser.add_argument("--initramfs", type=Path,
                            help="where the image's initramfs is kept (default: in "
                                 "~/.cache/ac295/initramfs); made again for another image")

    def prepare(self, args: argparse.Namespace) -> None:
        from .engine.client import Engine
        from .vm import initramfs

        if not args.kernel.is_file():
            raise VmError(f"no kernel at {args.kernel} (the compare or vm exercise's kernel "
                          "step fetches one: .ac295/vm/<exercise>/kernel/vmlinuz).")
        engine = Engine()
        image_id = engine.image_id(args.image)
        if image_id is None:
            raise EngineError(f"the engine has no image {args.image}.")
        if args.initramfs is None:
            cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            args.initramfs = cache / "ac295" / "initramfs" / f"{image_id[7:19]}.cpio"
        marker = args.initramfs.with_suffix(".image")
        if not (args.initramfs.is_file() and marker.is_file()
                and marker.read_text() == image_id):
            say(f"making the VM's initramfs from {image_id[7:19]}")
            initramfs.from_image(engine, image_id, args.initramfs)
            marker.write_text(image_id)

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> Ran:
        from .vm import boot

        booted = boot.boot(args.kernel, args.initramfs,
                           shlex.join(command), timeout=timeout)
        why = ""
        if booted.exit_code is None:
            what = "it timed out" if booted.timed_out else "a panic, or qemu failed"
            tail = "\n".join(booted.console.splitlines()[-15:])
            why = f"no report came back from the guest ({what}); the console said:\n{tail}"
        return Ran(booted.exit_code, booted.stdout, booted.stderr,
                   {"accel": booted.accel, "console": booted.console[-2000:],
                    "timed_out": booted.timed_out, "guest_command_s": booted.guest_command_s},
                   why)

    def facts(self, args: argparse.Namespace) -> dict[str, str]:
        from .vm import boot

        if args.kernel is None:
            raise VmError("the VM's facts need --kernel (qemu is tried with it).")
        return {"vm_accelerator": boot.accelerator(args.kernel),
                "qemu": _version([boot.QEMU, "--version"])}


RUNTIMES: dict[str, Runtime] = {r.name: r for r in (Native(), Docker(), Rootless(), Vm())}


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(
        prog="python -m tasks.runners", description=(__doc__ or "").split("\n\n")[0],
        epilog="For instance: python -m tasks.runners docker --image IMAGE -- python3 -V")
    runtimes = found.add_subparsers(dest="runtime", required=True, metavar="RUNTIME")
    for runtime in RUNTIMES.values():
        each = runtimes.add_parser(runtime.name, help=runtime.help, description=runtime.help)
        runtime.options(each)
        each.add_argument("--timeout", type=int, default=1800,
                          help="seconds the run may take (default 1800)")
        each.add_argument("--json", action="store_true", help="print one JSON object")
        what = each.add_mutually_exclusive_group()
        what.add_argument("--prepare", action="store_true", help="make what it needs, then exit")
        what.add_argument("--facts", action="store_true", help="print its versions as JSON")
        each.add_argument("command", nargs=argparse.REMAINDER,
                          help="after --: the command and its arguments")
    return found


def main(argv: list[str] | None = None) -> int:
    options = parser()
    args = options.parse_args(argv)
    runtime = RUNTIMES[args.runtime]
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.facts:
        missing = [f"--{o}" for o in runtime.required if getattr(args, o) is None]
        if missing:
            options.error(f"the {runtime.name} runtime needs {' and '.join(missing)}")
        if not args.prepare and not command:
            options.error("no command: put it after --, e.g. -- python3 -V")
    try:
        if args.facts:
            print(json.dumps(runtime.facts(args)))
            return 0
        runtime.prepare(args)
        if args.prepare:
            return 0
        start = time.perf_counter()
        ran = runtime.run(args, command, args.timeout)
        seconds = time.perf_counter() - start
    except Ac295Error as err:
        say(f"error: {err}")
        return FAILED
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    if args.json:
        print(json.dumps({"runtime": runtime.name, "command": command,
                          "exit_code": ran.exit_code, "stdout": ran.stdout,
                          "stderr": ran.stderr, "seconds": seconds, "details": ran.details,
                          "why": ran.why}))
        return 0
    sys.stdout.write(ran.stdout)
    sys.stderr.write(ran.stderr)
    say(f"{runtime.name}: exit {ran.exit_code} after {seconds:.3f} s"
        + (f": {ran.why}" if ran.why else ""))
    return 1 if ran.exit_code is None else ran.exit_code


if __name__ == "__main__":
    sys.exit(main())
