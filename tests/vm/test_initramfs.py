"""The newc writer and the tar-to-cpio conversion, read back with a newc reader written here."""
from __future__ import annotations

import io
import stat
import tarfile

import pytest

from tasks.errors import VmError
from tasks.vm import initramfs


def read_newc(data: bytes) -> list[dict]:
    """Every entry of a newc archive: the format's fields, by its specification."""
    names = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor",
             "devminor", "rdevmajor", "rdevminor", "namesize", "check")
    entries, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701", pos
        fields = {n: int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i, n in enumerate(names)}
        pos += 110
        name = data[pos:pos + fields["namesize"] - 1].decode()
        pos = (pos + fields["namesize"] + 3) & ~3
        body = data[pos:pos + fields["filesize"]]
        pos = (pos + fields["filesize"] + 3) & ~3
        if name == "TRAILER!!!":
            assert len(data) % 512 == 0
            return entries
        entries.append({"name": name, "data": body, **fields})


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
           **extra) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, len(data)
    info.uid, info.gid, info.mtime = extra.get("uid", 0), extra.get("gid", 0), extra.get("mtime", 100)
    info.linkname = extra.get("linkname", "")
    info.devmajor, info.devminor = extra.get("dev", (0, 0))
    return info, data


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> tarfile.TarFile:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    raw.seek(0)
    return tarfile.open(fileobj=raw, mode="r:")


def convert(tar: tarfile.TarFile, **kwargs) -> dict[str, dict]:
    out = io.BytesIO()
    writer = initramfs.NewcWriter(out)
    initramfs.tar_to_cpio(tar, writer, **kwargs)
    writer.close()
    return {e["name"]: e for e in read_newc(out.getvalue())}


def test_every_kind_of_entry_keeps_its_type_mode_owner_and_data():
    found = convert(tar_of(
        member("./usr/", tarfile.DIRTYPE, mode=0o755),
        member("./usr/bin/su", data=b"ELF", mode=0o4755, uid=0, gid=42),
        member("./tmp/", tarfile.DIRTYPE, mode=0o1777),
        member("./usr/bin/sh", tarfile.SYMTYPE, linkname="dash"),
        member("./dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        member("./run/fifo", tarfile.FIFOTYPE, mode=0o600),
        member("./etc/x", data=b"hello", mode=0o100640, uid=7, gid=8)))  # type bits in mode
    assert found["usr"]["mode"] == stat.S_IFDIR | 0o755 and found["usr"]["nlink"] == 2
    assert found["usr/bin/su"]["mode"] == stat.S_IFREG | 0o4755
    assert (found["usr/bin/su"]["gid"], found["usr/bin/su"]["data"]) == (42, b"ELF")
    assert found["tmp"]["mode"] == stat.S_IFDIR | 0o1777
    assert found["usr/bin/sh"]["mode"] == stat.S_IFLNK | 0o777
    assert found["usr/bin/sh"]["data"] == b"dash"
    assert found["dev/null"]["mode"] == stat.S_IFCHR | 0o666
    assert (found["dev/null"]["rdevmajor"], found["dev/null"]["rdevminor"]) == (1, 3)
    assert found["run/fifo"]["mode"] == stat.S_IFIFO | 0o600
    assert found["etc/x"]["mode"] == stat.S_IFREG | 0o640
    assert (found["etc/x"]["uid"], found["etc/x"]["data"]) == (7, b"hello")


def test_hard_links_share_an_inode_with_the_data_on_the_last_entry():
    found = convert(tar_of(member("bin/gunzip", data=b"zip!", mode=0o755),
                           member("bin/uncompress", tarfile.LNKTYPE, linkname="bin/gunzip"),
                           member("bin/zcat2", tarfile.LNKTYPE, linkname="bin/gunzip")))
    group = [found["bin/gunzip"], found["bin/uncompress"], found["bin/zcat2"]]
    assert len({e["ino"] for e in group}) == 1 and all(e["nlink"] == 3 for e in group)
    assert [e["data"] for e in group] == [b"", b"", b"zip!"]
    assert all(e["mode"] == stat.S_IFREG | 0o755 for e in group)


def test_skip_and_clamped_times():
    found = convert(tar_of(member(".dockerenv"), member("dev/", tarfile.DIRTYPE),
                           member("dev/console", mode=0o755), member("usr/share/doc/a"),
                           member("new", mtime=2000), member("old", mtime=50)),
                    skip=[".dockerenv", "dev/*", "usr/share/doc/*"], mtime_max=1000)
    assert sorted(found) == ["dev", "new", "old"]
    assert (found["new"]["mtime"], found["old"]["mtime"]) == (1000, 50)


def test_too_large_an_entry_is_refused():
    writer = initramfs.NewcWriter(io.BytesIO())
    with pytest.raises(VmError, match="too large"):
        writer.add("big", stat.S_IFREG | 0o644, data=io.BytesIO(b""), size=1 << 33)


def test_the_init_script_exports_the_image_environment_quoted():
    script = initramfs.init_script(["PATH=/opt/bin:/usr/bin", "GREETING=hi there", "junk"],
                                   "/app dir")
    assert script.startswith("#!/.vmx/busybox sh\n")
    assert "export 'GREETING=hi there'" in script and "export PATH=/opt/bin:/usr/bin" in script
    assert "junk" not in script and "cd '/app dir'" in script
    assert "/dev/ttyS1" in script and "reboot -f" in script


def test_the_init_script_brings_the_network_up_only_when_asked():
    script = initramfs.init_script()
    asked = script.index('if [ -n "$vmx_net" ] && [ -f /.vmx/modules/order ]; then')
    assert script.index("insmod /.vmx/modules/$M.ko", asked) < script.index(
        "ip addr add 10.0.2.15/24 dev eth0", asked) < script.index(
        "ip route add default via 10.0.2.2", asked) < script.index('$B sh -c "$C"')
    assert "unset vmx_timeout vmx_cmd vmx_net" in script  # the command does not see them


def test_an_initramfs_with_modules_holds_them_and_their_order(monkeypatch, tmp_path):
    from tasks.engine import images

    monkeypatch.setattr(images, "config", lambda engine, image_id: images.ImageConfig(
        env=[], workdir="", created="2024-01-01T00:00:00Z"))

    def export_tree(engine, image_id, out):
        tar = tar_of(member("app/Q.py", data=b"print(1)\n"))
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as copy:
            for info in tar.getmembers():
                copy.addfile(info, tar.extractfile(info))
        out.write(raw.getvalue())

    monkeypatch.setattr(images, "export_tree", export_tree)
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"bb")
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "order").write_text("virtio\nvirtio_net\n")
    (modules / "virtio.ko").write_bytes(b"v")
    (modules / "virtio_net.ko").write_bytes(b"vn")
    (modules / "other.ko").write_bytes(b"not in the order")
    initramfs.from_image(None, "sha256:1", tmp_path / "a.cpio", busybox=busybox,
                         modules=modules)
    entries = {e["name"]: e for e in read_newc((tmp_path / "a.cpio").read_bytes())}
    assert entries[".vmx/modules/order"]["data"] == b"virtio\nvirtio_net\n"
    assert (entries[".vmx/modules/virtio.ko"]["data"],
            entries[".vmx/modules/virtio_net.ko"]["data"]) == (b"v", b"vn")
    assert ".vmx/modules/other.ko" not in entries and entries["app/Q.py"]["data"] == b"print(1)\n"
    initramfs.from_image(None, "sha256:1", tmp_path / "b.cpio", busybox=busybox)
    assert not any(name.startswith(".vmx/modules") for name in
                   (e["name"] for e in read_newc((tmp_path / "b.cpio").read_bytes())))
