"""Run one command in a runtime of the lecture's ladder and say what it did: the public entry
point for exercises that need the project's machinery (the compare exercise uses it).

    python -m tasks.runners RUNTIME [OPTIONS] [--timeout S] [--json] -- COMMAND [ARG...]
    python -m tasks.runners RUNTIME [OPTIONS] --prepare     make what it needs, then exit
    python -m tasks.runners RUNTIME [OPTIONS] --facts       its versions, as JSON
    python -m tasks.runners RUNTIME [OPTIONS] --serve PATH --ready CMD --client CMD
                                           -- SERVER [ARG...]

Run it from the project's root with the project's Python (``.venv/bin/python``). Runtimes:

    native     the command on this machine            --cwd DIR
    docker     ``docker run --rm --network none``      --image IMAGE
    lxc        ``lxc-execute`` on the image's file     --image IMAGE [--store DIR]
               system (unpacked once per content)
    rootless   podman, as an unprivileged user, from   --archive FILE (a ``docker save``)
               a single-file image, no network
    vm         qemu booting Debian's kernel with the   --image IMAGE --kernel VMLINUZ
               image's file system as its root         [--initramfs FILE] [--cpus N]
                                                       [--memory MIB]

``--serve PATH`` runs the command as a server reached from this machine through one of the
runtime's network paths (native: loopback; docker: published, nat, bridge, host; lxc: bridge,
a bridge and veth pair made for the run; rootless: host; vm: user, qemu's user network with
forwarded ports). ``{port0}``, ``{port1}`` ... (``--ports N`` of them, free ones) in the
server's command and in ``--ready`` and ``--client``, and ``{host}`` in the last two, are
replaced; ``--ready`` runs on this machine until it exits 0, then ``--client`` runs once, and
that is what is timed and reported; then the server is stopped and what was made for it
removed.

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
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, ContextManager, Iterator

from . import process
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


@dataclass(frozen=True)
class Served:
    """A server running in a runtime: where this machine reaches it, and whether it lives."""

    host: str
    alive: Callable[[], bool] = lambda: True
    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _process(command: list[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A process (in a session of its own) until the block ends; then its group is killed."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, **popen)
    try:
        yield proc
    finally:
        process.kill_group(proc)
        proc.wait()


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
    paths: ClassVar[dict[str, str]] = {}  # the network paths --serve takes: name, what it is

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

    def network_paths(self) -> dict[str, str]:
        """The network paths ``serve`` takes: name, what it is."""
        return self.paths

    def serve(self, args: argparse.Namespace, command: list[str], ports: list[int],
              path: str) -> ContextManager[Served]:
        """Run ``command`` as a server reached through ``path`` until the block ends."""
        raise Ac295Error(f"the {self.name} runtime has no network paths.")


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

    paths = {"loopback": "this machine's loopback: the baseline"}

    @contextmanager
    def serve(self, args: argparse.Namespace, command: list[str], ports: list[int],
              path: str) -> Iterator[Served]:
        with _process(command, cwd=args.cwd) as proc:
            yield Served("127.0.0.1", lambda: proc.poll() is None)


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

    def network_paths(self) -> dict[str, str]:
        from .engine.servers import PATHS

        return PATHS

    @contextmanager
    def serve(self, args: argparse.Namespace, command: list[str], ports: list[int],
              path: str) -> Iterator[Served]:
        from .engine.client import Engine
        from .engine.servers import docker_server

        with docker_server(Engine(), args.image, command, ports, path) as host:
            yield Served(host)


class Lxc(Runtime):
    name = "lxc"
    help = "lxc-execute on the image's file system (unpacked once per image content)"
    required = ("image",)
    paths = {"bridge": "a bridge made for the run and a veth pair, no NAT"}

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--image", help="an image id or tag in the engine")
        parser.add_argument("--store", type=Path,
                            help="where images' file systems are kept, one folder per image "
                                 "content (default: ~/.cache/ac295/lxc)")
        parser.add_argument("--prefix", default=os.environ.get("AC295_LOCAL_PREFIX", ""),
                            help="the start of the bridge's and veth's names (default: "
                                 "AC295_LOCAL_PREFIX, else ac295-)")

    def prepare(self, args: argparse.Namespace) -> None:
        from .engine import content, lxc
        from .engine.client import Engine

        engine = Engine()
        image_id = engine.image_id(args.image)
        if image_id is None:
            raise EngineError(f"the engine has no image {args.image}.")
        if args.store is None:
            cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            args.store = cache / "ac295" / "lxc"
        digest = content.content_digest(engine, image_id,
                                        content.LayerCache(args.store / "layers.json"))
        key = digest.split(":", 1)[-1]
        if lxc.stored(args.store, key) is None:
            say(f"unpacking {image_id[7:19]} for LXC into {args.store}")
        args.rootfs = lxc.rootfs(engine, image_id, args.store, key)

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> Ran:
        from .engine import lxc

        found = lxc.run(args.rootfs, command, {}, timeout)
        return Ran(found.exit_code, found.stdout, found.stderr)

    def facts(self, args: argparse.Namespace) -> dict[str, str]:
        return {"lxc": _version(["lxc-execute", "--version"])}

    @contextmanager
    def serve(self, args: argparse.Namespace, command: list[str], ports: list[int],
              path: str) -> Iterator[Served]:
        from .engine import bridges, lxc

        with bridges.bridge(args.prefix) as bridge:
            veth = bridge.veth(1, args.prefix)
            with lxc.serving(args.rootfs, command, veth) as proc:
                yield Served(veth.address.split("/")[0], lambda: proc.poll() is None,
                             {"bridge": bridge.name, "subnet": str(bridge.network)})


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
        found = {"podman": _version(["podman", "--version"])}
        if args.archive is not None:
            from .engine import rootless

            self.prepare(args)
            said = rootless.user_network(args.podman_image)
            tun = Path("/dev/net/tun")
            mode = (f"; /dev/net/tun is {oct(tun.stat().st_mode & 0o777)} for uid "
                    f"{tun.stat().st_uid}" if tun.exists() else "; no /dev/net/tun")
            found["rootless_network"] = ("slirp4netns works" if not said else
                                         f"--network host (slirp4netns fails: "
                                         f"{said[:120]}{mode})")
        return found

    paths = {"host": "--network host: this machine's own stack (loopback); podman's "
                     "user-mode network (slirp4netns) needs /dev/net/tun, root's only here"}

    @contextmanager
    def serve(self, args: argparse.Namespace, command: list[str], ports: list[int],
              path: str) -> Iterator[Served]:
        from .engine import rootless

        with rootless.serving(args.podman_image, command) as proc:
            yield Served("127.0.0.1", lambda: proc.poll() is None)


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
        parser.add_argument("--cpus", type=int, default=1, help="virtual CPUs (default 1)")
        parser.add_argument("--memory", type=int, default=1024,
                            help="the VM's memory in MiB (default 1024)")

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
        modules = args.kernel.parent / "modules"
        if not (modules / "order").is_file():
            modules = None  # a kernel fetched before its network modules were kept
        made_of = image_id + (f" {(modules / 'order').read_text().split()}" if modules else "")
        marker = args.initramfs.with_suffix(".image")
        if not (args.initramfs.is_file() and marker.is_file()
                and marker.read_text() == made_of):
            say(f"making the VM's initramfs from {image_id[7:19]}")
            initramfs.from_image(engine, image_id, args.initramfs, modules=modules)
            marker.write_text(made_of)
        args.has_network = modules is not None

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> Ran:
        from .vm import boot

        booted = boot.boot(args.kernel, args.initramfs, shlex.join(command), timeout=timeout,
                           memory_mb=args.memory, cpus=args.cpus)
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
                "qemu": _version([boot.QEMU, "--version"]),
                "vm_cpus": str(args.cpus), "vm_memory_mib": str(args.memory)}

    paths = {"user": "qemu's user network (slirp in qemu), ports forwarded on 127.0.0.1, "
                     "a virtio-net card"}

    @contextmanager
    def serve(self, args: argparse.Namespace, command: list[str], ports: list[int],
              path: str) -> Iterator[Served]:
        from .vm import boot

        if not args.has_network:
            raise VmError(f"no network modules beside {args.kernel}: run the kernel step "
                          "again (it keeps them now), e.g. script/doit compare:kernel after "
                          "removing its folder.")
        with boot.serving(args.kernel, args.initramfs, shlex.join(command), ports,
                          memory_mb=args.memory, cpus=args.cpus) as proc:
            yield Served("127.0.0.1", lambda: proc.poll() is None)


RUNTIMES: dict[str, Runtime] = {r.name: r for r in (Native(), Docker(), Lxc(), Rootless(),
                                                     Vm())}


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
        what.add_argument("--serve", metavar="PATH",
                          help="run the command as a server reached through this network "
                               "path, then --ready and --client on this machine")
        each.add_argument("--ports", type=int, default=2,
                          help="with --serve: how many free ports {port0}... (default 2)")
        each.add_argument("--ready", metavar="CMD",
                          help="with --serve: run on this machine until it exits 0")
        each.add_argument("--client", metavar="CMD", dest="client_command",
                          help="with --serve: run on this machine once ready; timed")
        each.add_argument("command", nargs=argparse.REMAINDER,
                          help="after --: the command and its arguments")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports free on this machine now (the kernel picks them)."""
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        held.append(sock)
    ports = [sock.getsockname()[1] for sock in held]
    for sock in held:
        sock.close()
    return ports


def _filled(words: list[str], values: dict[str, str]) -> list[str]:
    out = []
    for word in words:
        for key, value in values.items():
            word = word.replace("{" + key + "}", value)
        out.append(word)
    return out


def served(runtime: Runtime, args: argparse.Namespace, command: list[str]) -> tuple[Ran, float]:
    """The server in the runtime, ``--ready`` until it answers, then ``--client`` (timed)."""
    ports = free_ports(args.ports)
    values = {f"port{n}": str(port) for n, port in enumerate(ports)}
    deadline = time.monotonic() + args.timeout
    with runtime.serve(args, _filled(command, values), ports, args.serve) as server:
        values["host"] = server.host
        ready = _filled(shlex.split(args.ready), values)
        waited = time.monotonic()
        while True:
            found = subprocess.run(ready, stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True)
            if found.returncode == 0:
                break
            if not server.alive():
                raise Ac295Error(f"the server in {runtime.name} stopped before it answered "
                                 f"({' '.join(command[:3])}).")
            if time.monotonic() > deadline:
                raise Ac295Error(f"the server in {runtime.name} did not answer within "
                                 f"{args.timeout} s over {args.serve}: "
                                 f"{(found.stderr or found.stdout).strip()[-300:]}")
            time.sleep(0.3)
        waited = time.monotonic() - waited
        client = _filled(shlex.split(args.client_command), values)
        start = time.perf_counter()
        try:
            done = subprocess.run(client, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise Ac295Error(f"the client did not finish within {args.timeout} s.") from None
        except OSError as err:
            raise Ac295Error(f"cannot run {client[0]}: {err.strerror or err}.") from None
        seconds = time.perf_counter() - start
    details = {"path": args.serve, "via": runtime.network_paths()[args.serve],
               "host": server.host, "ports": ports, "ready_s": round(waited, 3),
               **server.details}
    return Ran(done.returncode, done.stdout, done.stderr, details), seconds


def _stopped(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # what a run made (a container, a bridge) is removed on the way out


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
    if args.serve is not None:
        paths = runtime.network_paths()
        if args.serve not in paths:
            options.error(f"the {runtime.name} runtime has no network path '{args.serve}'"
                          + (f": {', '.join(paths)}" if paths else ""))
        if not args.ready or not args.client_command:
            options.error("--serve needs --ready and --client (commands run on this machine)")
    try:
        if args.facts:
            print(json.dumps(runtime.facts(args)))
            return 0
        runtime.prepare(args)
        if args.prepare:
            return 0
        if args.serve is not None:
            ran, seconds = served(runtime, args, command)
        else:
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
    signal.signal(signal.SIGTERM, _stopped)
    sys.exit(main())
