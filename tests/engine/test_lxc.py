"""LXC from an image's file system: the folder made once per key, the container's config, and
the bridges' names and subnets. lxc-execute itself runs in tests/integration/test_lxc.py."""
from __future__ import annotations

import io
import ipaddress
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tasks.engine import bridges, lxc
from tasks.errors import LxcError


def tar_bytes(files: dict[str, tuple[bytes, int, int]]) -> bytes:
    """A tar stream of ``name: (data, mode, uid)``, as docker export writes it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, (data, mode, uid) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, uid, uid
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


class Api:
    """The Docker API calls images.export_tree and the image's config make (recorded)."""

    def __init__(self, stream: bytes, config: dict[str, Any]) -> None:
        self.stream, self.config, self.calls = stream, config, []

    def inspect_image(self, image_id: str) -> dict[str, Any]:
        return {"Config": self.config}

    def create_container(self, image_id: str, **kwargs: Any) -> dict[str, str]:
        self.calls.append(f"create {image_id}")
        return {"Id": "c1"}

    def export(self, container: str, chunk_size: int) -> Any:
        self.calls.append(f"export {container}")
        yield self.stream[:100]
        yield self.stream[100:]

    def remove_container(self, container: str, force: bool) -> None:
        self.calls.append(f"remove {container}")


class Engine:
    def __init__(self, api: Api) -> None:
        self.client = type("Client", (), {"api": api})()


@pytest.fixture(autouse=True)
def tools(monkeypatch):
    monkeypatch.setattr(lxc, "_check_tools", lambda: None)


def test_the_folder_is_made_once_per_key_with_owners_and_the_images_config(tmp_path):
    api = Api(tar_bytes({"etc/passwd": (b"root:x:0:0::/root:/bin/sh\nbob:x:1000:1001::/:\n",
                                        0o644, 0),
                         "app/Q.py": (b"print(1)\n", 0o755, 1000),
                         ".dockerenv": (b"", 0o755, 0)}),
              {"Env": ["PATH=/usr/bin", "LANG=C.UTF-8"], "WorkingDir": "/app", "User": "bob",
               "Entrypoint": ["python3"], "Cmd": ["/app/Q.py"]})
    store = tmp_path / "store"
    fs = lxc.rootfs(Engine(api), "sha256:" + "1" * 64, store, "k1")  # type: ignore[arg-type]
    assert fs == lxc.Rootfs(store / "k1", ("PATH=/usr/bin", "LANG=C.UTF-8"), "/app", "bob",
                            ("python3", "/app/Q.py"))
    assert (store / "k1/app/Q.py").read_bytes() == b"print(1)\n"
    info = (store / "k1/app/Q.py").stat()
    assert (info.st_mode & 0o777, info.st_uid) == (0o755, 1000)  # numeric owners kept
    assert not (store / "k1/.dockerenv").exists()
    assert api.calls == ["create sha256:" + "1" * 64, "export c1", "remove c1"]
    assert sorted(p.name for p in store.iterdir()) == ["k1", "k1.json"]  # no part left
    again = lxc.rootfs(Engine(api), "sha256:" + "1" * 64, store, "k1")  # type: ignore[arg-type]
    assert again == fs and len(api.calls) == 3  # reused: no second export
    assert lxc.stored(store, "k2") is None


def test_a_broken_export_leaves_no_folder(tmp_path):
    api = Api(b"this is not a tar stream" * 50, {})
    with pytest.raises(LxcError, match="unpacking the image 111111111111 into"):
        lxc.rootfs(Engine(api), "sha256:" + "1" * 64, tmp_path, "k1")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    assert api.calls[-1] == "remove c1"


def test_a_folder_without_its_config_is_not_taken_as_made(tmp_path):
    (tmp_path / "k1").mkdir()
    assert lxc.stored(tmp_path, "k1") is None
    (tmp_path / "k1.json").write_text(json.dumps({"env": [], "workdir": "/", "user": "",
                                                  "command": ["sh"]}))
    assert lxc.stored(tmp_path, "k1") == lxc.Rootfs(tmp_path / "k1", (), "/", "", ("sh",))


def test_the_config_without_a_network_has_only_loopback_and_an_overlay(tmp_path):
    fs = lxc.Rootfs(tmp_path / "k1", ("PATH=/opt/bin", "A=image"), "/app", "")
    text = lxc.config_text(fs, "ac295-x", tmp_path / "upper", {"A": "step", "B": "two words"},
                           None, tmp_path / "hook")
    lines = text.splitlines()
    assert f"lxc.rootfs.path = overlay:{tmp_path / 'k1'}:{tmp_path / 'upper'}" in lines
    assert "lxc.net.0.type = empty" in lines and not any("veth" in line for line in lines)
    assert f"lxc.hook.start-host = {tmp_path / 'hook'}" in lines  # it brings lo up
    assert 'nsenter --target "$LXC_PID" --net ip link set lo up' in lxc.LOOPBACK_HOOK
    assert {"lxc.apparmor.profile = unconfined", "lxc.init.cwd = /app",
            "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed", "lxc.uts.name = ac295-x",
            "lxc.environment = PATH=/opt/bin", "lxc.environment = A=step",
            "lxc.environment = B=two words"} <= set(lines)
    assert "lxc.environment = A=image" not in lines and "lxc.init.uid" not in text


def test_the_config_on_a_bridge_has_a_veth_with_its_address(tmp_path):
    bridge = bridges.Bridge("t1-br", ipaddress.IPv4Network("10.229.7.0/24"))
    veth = bridge.veth(1, "t1-")
    assert veth == bridges.Veth("t1-br", "10.229.7.2/24", "10.229.7.1", "t1-v1")
    text = lxc.config_text(lxc.Rootfs(tmp_path), "n", tmp_path / "u", {}, veth)
    assert {"lxc.net.0.type = veth", "lxc.net.0.link = t1-br", "lxc.net.0.veth.pair = t1-v1",
            "lxc.net.0.flags = up", "lxc.net.0.ipv4.address = 10.229.7.2/24",
            "lxc.net.0.ipv4.gateway = 10.229.7.1"} <= set(text.splitlines())
    assert "lxc.environment = PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        in text  # the image has no PATH: the usual one


@pytest.mark.parametrize("user, ids, home", [
    ("", (0, 0), "/root"), ("root", (0, 0), "/root"), ("1000", (1000, 1001), "/home/bob"),
    ("1000:5", (1000, 5), "/home/bob"), ("bob", (1000, 1001), "/home/bob"),
    ("2000", (2000, 2000), "/")])
def test_the_images_user_becomes_numbers_and_a_home(tmp_path, user, ids, home):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "bob:x:1000:1001::/home/bob:/bin/sh\n")
    text = lxc.config_text(lxc.Rootfs(tmp_path, user=user), "n", tmp_path / "u", {}, None)
    expected = {f"lxc.init.uid = {ids[0]}", f"lxc.init.gid = {ids[1]}"} if ids[0] else set()
    assert {line for line in text.splitlines() if ".init.uid" in line or ".init.gid" in line} \
        == expected
    assert f"lxc.environment = HOME={home}" in text.splitlines()


@pytest.mark.parametrize("fs, env, words", [
    (lxc.Rootfs(Path("/nonexistent"), user="carol"), {}, "user 'carol' is not in"),
    (lxc.Rootfs(Path("/nonexistent")), {"A": "two\nlines"}, "A holds a newline"),
])
def test_what_an_lxc_config_cannot_say_is_an_error(tmp_path, fs, env, words):
    with pytest.raises(LxcError, match=words):
        lxc.config_text(fs, "n", tmp_path / "u", env, None)


def test_no_command_and_none_in_the_image_is_an_error(tmp_path):
    with pytest.raises(LxcError, match="the image has no CMD"):
        lxc.run(lxc.Rootfs(tmp_path), None, {}, 5)


@pytest.mark.parametrize("prefix, what, name", [
    ("t12345-", "br", "t12345-br"), ("", "br", "ac295-br"), ("a b/c:", "v1", "abcv1"),
])
def test_interface_names(prefix, what, name):
    assert bridges.interface_name(prefix, what) == name


def test_a_long_prefix_is_shortened_with_a_hash_and_stays_distinct():
    one = bridges.interface_name("rel1234567890abcdef-", "br")
    two = bridges.interface_name("rel1234567890abcdeg-", "br")
    assert len(one) <= 15 and len(two) <= 15 and one != two
    assert one.endswith("-br") and one == bridges.interface_name("rel1234567890abcdef-", "br")


def test_the_subnet_is_one_no_route_or_address_uses(monkeypatch):
    start = bridges.free_subnet("p-")
    assert start.subnet_of(bridges.SUBNETS) and start.prefixlen == 24
    monkeypatch.setattr(bridges, "_used_networks", lambda: [  # a default route is no use
        ipaddress.IPv4Network("0.0.0.0/0"), start, ipaddress.IPv4Network("172.17.0.0/16")])
    assert bridges.free_subnet("p-") not in (start, ipaddress.IPv4Network("0.0.0.0/0"))
    everything = [ipaddress.IPv4Network("10.229.0.0/16")]
    monkeypatch.setattr(bridges, "_used_networks", lambda: everything)
    with pytest.raises(LxcError, match="no free /24"):
        bridges.free_subnet("p-")


def test_a_bridge_is_removed_when_the_block_ends_even_on_an_error(monkeypatch):
    calls: list[str] = []

    class Done:
        def __init__(self, code: int = 0) -> None:
            self.returncode, self.stdout, self.stderr = code, "", "refused"

    monkeypatch.setattr(bridges, "_used_networks", lambda: [])
    monkeypatch.setattr(bridges, "_ip", lambda args: calls.append(" ".join(args)) or Done())
    with pytest.raises(RuntimeError):
        with bridges.bridge("t1-") as bridge:
            assert bridge.name == "t1-br" and bridge.gateway.endswith(".1")
            raise RuntimeError("the run failed")
    assert calls[0] == "link add t1-br type bridge"
    assert calls[1].startswith("addr add 10.229.") and calls[1].endswith(".1/24 dev t1-br")
    assert calls[2:] == ["link set t1-br up", "link del t1-br"]
    calls.clear()
    monkeypatch.setattr(bridges, "_ip", lambda args: calls.append(" ".join(args)) or Done(
        2 if args[0] == "link" and args[1] == "add" else 0))
    with pytest.raises(LxcError, match="cannot make the bridge t1-br: refused .*ip link del"):
        with bridges.bridge("t1-"):
            pass
