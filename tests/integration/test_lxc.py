"""LXC end to end: exercise 2's pushed image as a folder under the state folder, lxc-execute,
the same answer as Docker gives, no network; the folder made once per image content and
never written by a run; a bridge and veth pair made and removed."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import docker
import pytest

from tasks.engine import bridges, lxc
from tasks.errors import LxcError


def test_lxc_gives_dockers_answer_with_only_loopback_and_a_second_run_does_nothing(
        project, engine: docker.DockerClient):
    project.forget("lxc:question")
    run = project.doit("lxc")
    assert "lxc:question" in run.executed
    record = project.record("lxc:question")
    assert record is not None and record["exit_code"] == 0
    assert "no network: only lo" in record["stdout"]
    # the oracle: plain docker, driven by this test, on the same image
    image_id = project.local("lxc:image")["image_id"]
    said = engine.containers.run(image_id, ["python3", "/app/Question.py"], remove=True,
                                 network_mode="none").decode()
    assert "Answer: 2640" in said
    assert record["stdout"].startswith(said)
    rootfs = Path(project.local("lxc:question")["rootfs"])
    content = project.record("lxc:image")["content_digest"]
    assert rootfs == project.state / "lxc" / "rootfs" / content.split(":", 1)[1]
    assert project.doit("lxc").executed == []


def test_the_folder_is_made_once_and_no_run_writes_to_it(project):
    project.doit("lxc")
    rootfs = Path(project.local("lxc:question")["rootfs"])
    inode, mtime = rootfs.stat().st_ino, rootfs.stat().st_mtime_ns
    project.forget("lxc:question")
    run = project.doit("lxc")
    assert run.executed == ["lxc:question"] and "(reused)" in run.stdout
    assert (rootfs.stat().st_ino, rootfs.stat().st_mtime_ns) == (inode, mtime)
    fs = lxc.stored(rootfs.parent, rootfs.name)
    assert fs is not None
    found = lxc.run(fs, ["sh", "-c", "echo mine > /app/written && cat /app/written"], {}, 60)
    assert (found.exit_code, found.stdout) == (0, "mine\n")
    looped = lxc.run(fs, ["python3", "-c", "import socket; s = socket.create_server(('127.0.0.1'"
                          ", 0)); socket.create_connection(s.getsockname()); print('up')"], {}, 60)
    assert looped.stdout == "up\n"  # its loopback is up, as in Docker's --network none
    assert not (rootfs / "app" / "written").exists()  # it went to the run's overlay
    assert list((rootfs.parent / "run").iterdir()) == []  # and the overlay went with the run


def test_a_timeout_stops_the_container_and_leaves_nothing(project):
    project.doit("lxc")
    rootfs = Path(project.local("lxc:question")["rootfs"])
    fs = lxc.stored(rootfs.parent, rootfs.name)
    assert fs is not None
    start = time.monotonic()
    with pytest.raises(LxcError, match="did not finish within 2 s"):
        lxc.run(fs, ["sleep", "300"], {}, 2)
    assert time.monotonic() - start < 30
    assert list((rootfs.parent / "run").iterdir()) == []
    ours = subprocess.run(["pgrep", "-f", f"lxc-execute .*{rootfs.parent}"],
                          capture_output=True, text=True).stdout
    assert ours == ""
    assert lxc.run(fs, ["true"], {}, 30).exit_code == 0  # and the next run works
    missing = lxc.run(fs, ["/no/such/program"], {}, 30)
    assert missing.exit_code == 255 and "'/no/such/program' may not exist" in missing.stderr


def test_a_bridge_and_veth_carry_traffic_and_are_removed(project):
    project.doit("lxc")
    rootfs = Path(project.local("lxc:question")["rootfs"])
    fs = lxc.stored(rootfs.parent, rootfs.name)
    assert fs is not None
    prefix = f"x{os.getpid() % 100000}-"
    with bridges.bridge(prefix) as bridge:
        links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
        assert bridge.name in links
        veth = bridge.veth(1, prefix)
        server = ["python3", "-c", "import socket; s = socket.create_server(('0.0.0.0', 7077));"
                  " c, _ = s.accept(); c.sendall(c.recv(5).upper())"]
        with lxc.serving(fs, server, veth):
            address = veth.address.split("/")[0]
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection((address, 7077), timeout=5) as client:
                        client.sendall(b"hello")
                        assert client.recv(5) == b"HELLO"
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
            assert veth.host_end in links
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert bridge.name not in links and veth.host_end not in links


def test_an_lxc_shell_is_a_terminal_in_a_container_like_the_runs(project):
    from integration.test_shell import Shell

    project.doit("lxc")
    rootfs = Path(project.local("lxc:question")["rootfs"])
    shell = Shell(project, "lxc:question")
    assert "LXC on lxc:image's image" in shell.what
    assert shell.type("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '").split() == ["lo"]
    assert shell.type("echo $HOME; touch /app/from-the-shell").split() == ["/root"]
    assert len(list((rootfs.parent / "run").iterdir())) == 1  # the shell's own folder
    assert shell.exit(7) == 7
    assert list((rootfs.parent / "run").iterdir()) == []
    assert not (rootfs / "app" / "from-the-shell").exists()
