"""``python -m tasks.runners``: one command in one runtime, timed, reported as JSON or passed
through. The native runtime runs for real; the others' engines are faked at their edges
(tests/integration/test_compare.py runs them all for real)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks import runners
from tasks.errors import RootlessError

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = runners.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_native_json_report(capsys, tmp_path):
    code, out, err = run(capsys, "native", "--cwd", str(tmp_path), "--json", "--",
                         "sh", "-c", "pwd; echo oops >&2; exit 3")
    report = json.loads(out)
    assert code == 0  # the runner did its job; the command's status is in the report
    assert report["runtime"] == "native" and report["command"] == ["sh", "-c",
                                                                   "pwd; echo oops >&2; exit 3"]
    assert (report["exit_code"], report["stdout"], report["stderr"]) == (3, f"{tmp_path}\n",
                                                                         "oops\n")
    assert 0 < report["seconds"] < 10 and report["details"] == {}


def test_without_json_the_output_and_status_are_the_commands(capsys):
    code, out, err = run(capsys, "native", "--", "sh", "-c", "echo hi; echo warn >&2; exit 4")
    assert (code, out) == (4, "hi\n")
    assert err.startswith("warn\n") and "native: exit 4 after" in err


def test_the_runners_own_failure_is_125_and_one_line(capsys):
    code, out, err = run(capsys, "native", "--", "/nonexistent/program")
    assert (code, out) == (125, "")
    assert err.startswith("runners: error: cannot run /nonexistent/program")


@pytest.mark.parametrize("argv, words", [
    (["docker", "--", "true"], "needs --image"),
    (["vm", "--image", "x", "--", "true"], "needs --kernel"),
    (["native"], "no command"),
    (["lxd", "--", "true"], "invalid choice"),
])
def test_usage_errors_exit_2_with_the_usage(capsys, argv, words):
    with pytest.raises(SystemExit) as info:
        runners.main(argv)
    assert info.value.code == 2 and words in capsys.readouterr().err


class Slow(runners.Runtime):
    """A runtime whose preparation takes long and whose run is quick."""

    name = "slow"
    help = "a test runtime"
    required = ("thing",)

    def options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--thing")

    def prepare(self, args: argparse.Namespace) -> None:
        time.sleep(0.3)
        args.prepared = True

    def run(self, args: argparse.Namespace, command: list[str], timeout: int) -> runners.Ran:
        assert args.prepared and timeout == 7
        return runners.Ran(0, " ".join(command) + f" with {args.thing}", "", {"how": "fast"})

    def facts(self, args: argparse.Namespace) -> dict[str, str]:
        return {"slow": "1.0"}


def test_a_new_runtime_is_a_class_and_one_line_and_preparing_is_not_timed(capsys, monkeypatch):
    monkeypatch.setitem(runners.RUNTIMES, "slow", Slow())
    code, out, _ = run(capsys, "slow", "--thing", "x", "--json", "--timeout", "7", "--",
                       "echo", "a")
    report = json.loads(out)
    assert code == 0 and report["stdout"] == "echo a with x" and report["details"]["how"] == "fast"
    assert report["seconds"] < 0.25  # the 0.3 s of preparation are not in it
    assert run(capsys, "slow", "--facts")[1:] == ('{"slow": "1.0"}\n', "")
    assert run(capsys, "slow", "--thing", "x", "--prepare") == (0, "", "")


@pytest.fixture
def engine_images(monkeypatch) -> dict[str, str]:
    """The engine's images, by reference (``Engine.image_id`` answers from it)."""
    from tasks.engine.client import Engine

    found = {"sha256:abc": "sha256:abc", "img": "sha256:" + "c" * 64,
             "me/app:1": "sha256:" + "a" * 64, "me/app:2": "sha256:" + "b" * 64}
    monkeypatch.setattr(Engine, "image_id", lambda self, ref: found.get(ref))
    return found


def test_docker_runs_the_cli_as_a_user_types_it(capsys, monkeypatch, tmp_path, engine_images):
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" >> "$(dirname "$0")/calls"\n'
                    'echo "from the container"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    code, out, _ = run(capsys, "docker", "--image", "sha256:abc", "--json", "--",
                       "python3", "/bench/workloads.py", "ready")
    assert code == 0 and json.loads(out)["stdout"] == "from the container\n"
    argv = (tmp_path / "calls").read_text().splitlines()
    assert argv[:3] == ["run", "--rm", "--name"] and argv[3].startswith("ac295-run-")
    assert argv[4:] == ["--network", "none", "sha256:abc", "python3", "/bench/workloads.py",
                        "ready"]


def test_a_docker_run_that_times_out_removes_its_container(capsys, monkeypatch, tmp_path,
                                                           engine_images):
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/calls"\n'
                    '[ "$1" = run ] && exec sleep 30\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    code, _, err = run(capsys, "docker", "--image", "img", "--timeout", "1", "--", "true")
    assert code == 125 and "did not finish within 1 s" in err
    calls = (tmp_path / "calls").read_text().splitlines()
    name = calls[0].split()[3]
    assert calls[1] == f"rm --force {name}"


def test_a_missing_image_fails_before_docker_would_try_docker_hub(capsys, engine_images):
    code, _, err = run(capsys, "docker", "--image", "python:3.99", "--", "true")
    assert code == 125 and "the engine has no image python:3.99" in err


def test_rootless_loads_the_archive_before_the_timed_run(capsys, monkeypatch, tmp_path):
    from tasks.engine import rootless

    done: list[str] = []
    monkeypatch.setattr(rootless, "ensure_user", lambda: done.append("user"))
    monkeypatch.setattr(rootless, "load", lambda archive: done.append(f"load {archive}")
                        or "sha256:loaded")
    monkeypatch.setattr(rootless, "run", lambda image, command, env, timeout: done.append(
        f"run {image} {command} {timeout}") or rootless.Outcome(0, "ok\n", "", 100999))
    code, out, _ = run(capsys, "rootless", "--archive", str(tmp_path / "a.tar"), "--json", "--",
                       "python3", "-V")
    assert code == 0 and json.loads(out)["details"] == {"host_uid": 100999}
    assert done == ["user", f"load {tmp_path / 'a.tar'}",
                    "run sha256:loaded ['python3', '-V'] 1800"]
    monkeypatch.setattr(rootless, "ensure_user", lambda: (_ for _ in ()).throw(
        RootlessError("podman does not work for ac295-rootless: no subuids")))
    code, _, err = run(capsys, "rootless", "--archive", "a.tar", "--", "true")
    assert code == 125 and "no subuids" in err


def test_the_vms_initramfs_is_made_once_per_image(capsys, monkeypatch, tmp_path,
                                                 engine_images):
    from tasks.vm import boot, initramfs

    images = engine_images
    made: list[str] = []
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"kernel")

    def from_image(engine, image_id, dest, modules=None):
        assert modules is None  # no network modules beside this kernel
        made.append(image_id)
        dest.write_text(image_id)
        return "sha256:digest"

    monkeypatch.setattr(initramfs, "from_image", from_image)
    monkeypatch.setattr(boot, "boot", lambda kernel, initrd, command, timeout, **vm: boot.Booted(
        0, f"{initrd.read_text()[7:11]} {command} {vm}\n", "", "tcg", "", False, 9.0, 2.0))
    cpio = tmp_path / "vm.cpio"
    for image in ("me/app:1", "me/app:1", "me/app:2"):
        code, out, _ = run(capsys, "vm", "--image", image, "--kernel", str(kernel),
                           "--initramfs", str(cpio), "--json", "--", "python3", "-c",
                           "print('a b')")
        assert code == 0
    assert made == [images["me/app:1"], images["me/app:2"]]
    report = json.loads(out)
    assert report["stdout"] == ("bbbb python3 -c 'print('\"'\"'a b'\"'\"')' "  # a shell line
                                "{'memory_mb': 1024, 'cpus': 1}\n")
    assert report["details"]["accel"] == "tcg"
    assert (tmp_path / "vm.image").read_text() == images["me/app:2"]
    code, _, err = run(capsys, "vm", "--image", "me/nosuch:1", "--kernel", str(kernel), "--",
                       "true")
    assert code == 125 and "no image me/nosuch:1" in err
    code, _, err = run(capsys, "vm", "--image", "me/app:1", "--kernel", "/no/vmlinuz", "--",
                       "true")
    assert code == 125 and "no kernel at /no/vmlinuz" in err
    monkeypatch.setattr(boot, "boot", lambda kernel, initrd, command, timeout, **vm: boot.Booted(
        None, "", "", "tcg", "[ 0.1] Kernel panic - not syncing: no init\n", False, 1.0, None))
    code, out, err = run(capsys, "vm", "--image", "me/app:1", "--kernel", str(kernel),
                         "--initramfs", str(cpio), "--", "true")
    assert code == 1 and "no report came back from the guest (a panic" in err
    assert "Kernel panic - not syncing" in err


def test_it_runs_as_a_module_from_the_projects_root(tmp_path):
    """The documented way: ``python -m tasks.runners`` in the project's root."""
    found = subprocess.run([sys.executable, "-m", "tasks.runners", "native", "--cwd",
                            str(tmp_path), "--json", "--", "sh", "-c", "echo ready"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["stdout"] == "ready\n"


def test_facts_say_the_versions(capsys, monkeypatch):
    from tasks.engine.client import Engine
    from tasks.vm import boot

    monkeypatch.setattr(Engine, "server", lambda self: {
        "ServerVersion": "20.10.24+dfsg1", "Driver": "overlay2", "CgroupVersion": "1"})
    assert json.loads(run(capsys, "docker", "--facts")[1]) == {
        "docker": "20.10.24+dfsg1 (overlay2, cgroup v1)"}
    monkeypatch.setattr(boot, "accelerator", lambda kernel: "tcg")
    monkeypatch.setattr(runners, "_version", lambda command: f"{command[0]} 7.2")
    assert json.loads(run(capsys, "vm", "--kernel", "k", "--cpus", "2", "--facts")[1]) == {
        "vm_accelerator": "tcg", "qemu": "qemu-system-x86_64 7.2", "vm_cpus": "2",
        "vm_memory_mib": "1024"}
    assert json.loads(run(capsys, "lxc", "--facts")[1]) == {"lxc": "lxc-execute 7.2"}
    code, _, err = run(capsys, "vm", "--facts")
    assert code == 125 and "need --kernel" in err


class Echoing(runners.Runtime):
    """A runtime whose server is a real process here: what --serve does around it."""

    name = "echoing"
    help = "a test runtime with a network path"
    paths = {"wire": "a test path"}

    def __init__(self) -> None:
        self.served: list[list[str]] = []

    def serve(self, args, command, ports, path):
        from contextlib import contextmanager

        @contextmanager
        def server():
            self.served.append(command)
            proc = subprocess.Popen(command)
            try:
                yield runners.Served("127.0.0.9", lambda: proc.poll() is None, {"made": "a"})
            finally:
                proc.kill()
                proc.wait()
                self.served.append(["stopped"])
        return server()


def test_serve_waits_for_ready_then_times_the_client_and_stops_the_server(capsys, monkeypatch,
                                                                          tmp_path):
    runtime = Echoing()
    monkeypatch.setitem(runners.RUNTIMES, "echoing", runtime)
    flag = tmp_path / "up"
    # the server makes the flag after 0.5 s; --ready fails until then
    code, out, err = run(capsys, "echoing", "--json", "--serve", "wire", "--ports", "3",
                         "--ready", f"test -e {flag}",
                         "--client", "echo {host} {port0} {port2} {nothing}",
                         "--", "sh", "-c", f"sleep 0.5; touch {flag}; sleep 30; : {{port1}}")
    report = json.loads(out)
    assert code == 0 and report["exit_code"] == 0
    host, port0, port2, rest = report["stdout"].split()
    assert host == "127.0.0.9" and rest == "{nothing}"
    assert report["details"]["ports"][0] == int(port0) and report["details"]["ports"][2] == int(
        port2) and len(set(report["details"]["ports"])) == 3
    assert runtime.served[0][-1].endswith(f": {report['details']['ports'][1]}")  # filled in
    assert runtime.served[-1] == ["stopped"]
    assert report["details"]["ready_s"] >= 0.4 and report["seconds"] < 5
    assert report["details"]["via"] == "a test path" and report["details"]["made"] == "a"


def test_a_server_that_dies_or_never_answers_is_the_runners_failure(capsys, monkeypatch):
    monkeypatch.setitem(runners.RUNTIMES, "echoing", Echoing())
    code, _, err = run(capsys, "echoing", "--serve", "wire", "--ready", "false", "--client",
                       "true", "--", "sh", "-c", "exit 3")
    assert code == 125 and "stopped before it answered" in err
    start = time.monotonic()
    code, _, err = run(capsys, "echoing", "--serve", "wire", "--timeout", "1", "--ready",
                       "sh -c 'echo refused >&2; exit 1'", "--client", "true", "--",
                       "sleep", "30")
    assert code == 125 and "did not answer within 1 s over wire: refused" in err
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("argv, words", [
    (["native", "--serve", "wire", "--ready", "true", "--client", "true", "--", "x"],
     "no network path 'wire': loopback"),
    (["native", "--serve", "loopback", "--client", "true", "--", "x"], "needs --ready"),
    (["docker", "--image", "i", "--serve", "published", "--facts"], "not allowed with"),
])
def test_serve_usage_errors(capsys, argv, words):
    with pytest.raises(SystemExit) as info:
        runners.main(argv)
    assert info.value.code == 2 and words in capsys.readouterr().err


def test_every_runtime_says_its_network_paths():
    assert set(runners.RUNTIMES) == {"native", "docker", "lxc", "rootless", "vm"}
    assert {name: sorted(r.network_paths()) for name, r in runners.RUNTIMES.items()} == {
        "native": ["loopback"], "docker": ["bridge", "host", "nat", "published"],
        "lxc": ["bridge"], "rootless": ["host"], "vm": ["user"]}


def test_lxc_unpacks_once_per_content_before_the_timed_run(capsys, monkeypatch, tmp_path,
                                                           engine_images):
    from tasks.engine import content, lxc

    calls: list[str] = []
    monkeypatch.setattr(content, "content_digest", lambda engine, image_id, cache: (
        calls.append(f"digest {image_id[7:11]} {cache.path}") or "sha256:" + "d" * 64))
    monkeypatch.setattr(lxc, "stored", lambda store, key: None)
    monkeypatch.setattr(lxc, "rootfs", lambda engine, image_id, store, key: (
        calls.append(f"rootfs {image_id[7:11]} {store} {key[:4]}") or lxc.Rootfs(store / key)))
    monkeypatch.setattr(lxc, "run", lambda fs, command, env, timeout: (
        calls.append(f"run {fs.path.name[:4]} {command}") or
        lxc.containers.Outcome(0, "ok\n", "")))
    code, out, err = run(capsys, "lxc", "--image", "me/app:1", "--store", str(tmp_path),
                         "--json", "--", "python3", "-V")
    assert code == 0 and json.loads(out)["stdout"] == "ok\n"
    assert calls == [f"digest aaaa {tmp_path / 'layers.json'}", f"rootfs aaaa {tmp_path} dddd",
                     "run dddd ['python3', '-V']"]
    assert f"unpacking aaaaaaaaaaaa for LXC into {tmp_path}" in err
    code, _, err = run(capsys, "lxc", "--image", "me/nosuch", "--", "true")
    assert code == 125 and "no image me/nosuch" in err


def test_the_vm_serves_only_with_its_network_modules(capsys, monkeypatch, tmp_path,
                                                     engine_images):
    from tasks.vm import initramfs

    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"kernel")
    made: list[object] = []
    monkeypatch.setattr(initramfs, "from_image", lambda engine, image_id, dest, modules=None: (
        made.append(modules) or dest.write_text(image_id)))
    argv = ["vm", "--image", "me/app:1", "--kernel", str(kernel), "--initramfs",
            str(tmp_path / "vm.cpio"), "--serve", "user", "--ready", "true", "--client",
            "true", "--", "x"]
    code, _, err = run(capsys, *argv)
    assert code == 125 and "no network modules beside" in err and made == [None]
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / "order").write_text("virtio\nvirtio_net\n")
    run(capsys, *argv[:7], "--prepare")
    assert made == [None, tmp_path / "modules"]  # made again: now with the modules
    assert "virtio_net" in (tmp_path / "vm.image").read_text()
