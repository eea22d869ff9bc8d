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
