"""An image's file system as an initramfs: a newc cpio the kernel unpacks as its root.

The image is flattened with ``docker create`` + export (``engine.images.export_tree``; the
container is removed again) and rewritten as cpio "new ASCII" (newc, the only format the
kernel's unpacker reads). Kept: permissions with setuid and sticky bits, numeric owners,
mtimes, symlinks, device nodes, FIFOs, hard links (one inode, the data on the group's last
entry, as GNU cpio writes them). Lost: extended attributes (file capabilities), which newc
cannot hold.

Docker's placeholders go (``/.dockerenv``, everything under ``/dev``: an empty regular file
``/dev/console`` would replace the kernel's console); added are ``/dev/console``, a static
busybox as ``/.vmx/busybox`` and a generic ``/init`` that runs the command the kernel command
line carries (``vmx_cmd``, base64), so one initramfs serves every command of an image.
Times later than the image's creation (files Docker made for the container) are set to it:
the same image gives the same bytes, and the initramfs is identified by its content.
"""
from __future__ import annotations

import calendar
import hashlib
import os
import re
import shlex
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterable, Sequence

from ..engine import images
from ..engine.client import Engine
from ..errors import VmError

#: The host's static busybox (Debian's busybox-static), copied in to run /init.
BUSYBOX = Path("/bin/busybox")
#: Prefix of every line of the report /init writes on the second serial port.
MARKER = "AC295"
#: What no program reads: docs, man pages, translations, apt's cache and lists (half the
#: size of a minbase image, and unpacking costs about 28 ms per MB under TCG).
SLIM = ("usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*",
        "usr/share/lintian/*", "var/cache/apt/*", "var/lib/apt/lists/*", "var/cache/debconf/*")
_NEWC_MAX = 0xFFFFFFFF


class NewcWriter:
    """A writer of the newc cpio format (magic 070701), entry by entry."""

    def __init__(self, out: BinaryIO | Any) -> None:
        self.out = out
        self.pos = 0
        self.next_ino = 721

    def new_ino(self) -> int:
        self.next_ino += 1
        return self.next_ino

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.pos += len(data)

    def _pad(self) -> None:
        if self.pos % 4:
            self._write(b"\0" * (4 - self.pos % 4))

    def add(self, name: str, mode: int, *, uid: int = 0, gid: int = 0, nlink: int = 1,
            mtime: int = 0, data: bytes | IO[bytes] | None = None, size: int = 0,
            rdev: tuple[int, int] = (0, 0), ino: int | None = None) -> None:
        """One entry; ``mode`` holds the type bits; ``data`` is bytes or a file of ``size``."""
        if isinstance(data, bytes):
            size = len(data)
        if size > _NEWC_MAX:
            raise VmError(f"{name}: {size} bytes is too large for an initramfs entry.")
        raw_name = os.fsencode(name) + b"\0"
        fields = (ino if ino is not None else self.new_ino(), mode, uid, gid, nlink,
                  max(0, min(int(mtime), _NEWC_MAX)), size, 0, 0, rdev[0], rdev[1],
                  len(raw_name), 0)
        self._write(b"070701" + b"".join(b"%08X" % v for v in fields))
        self._write(raw_name)
        self._pad()
        if isinstance(data, bytes):
            self._write(data)
        elif data is not None and size:
            left = size
            while left:
                chunk = data.read(min(left, 1 << 20))
                if not chunk:
                    raise VmError(f"{name}: the image's file ended early.")
                self._write(chunk)
                left -= len(chunk)
        self._pad()

    def close(self) -> None:
        """The trailer, padded to a 512-byte block as GNU cpio pads it."""
        self.add("TRAILER!!!", 0, ino=0)
        if self.pos % 512:
            self._write(b"\0" * (512 - self.pos % 512))


_TYPES = {tarfile.REGTYPE: stat.S_IFREG, tarfile.AREGTYPE: stat.S_IFREG,
          tarfile.CONTTYPE: stat.S_IFREG, tarfile.DIRTYPE: stat.S_IFDIR,
          tarfile.SYMTYPE: stat.S_IFLNK, tarfile.CHRTYPE: stat.S_IFCHR,
          tarfile.BLKTYPE: stat.S_IFBLK, tarfile.FIFOTYPE: stat.S_IFIFO}


def _norm(name: str) -> str:
    name = name.rstrip("/")
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def tar_to_cpio(tar: tarfile.TarFile, writer: NewcWriter, skip: Iterable[str] = (),
                mtime_max: int | None = None) -> int:
    """Write every member of a seekable tar as newc entries; return how many.

    ``skip``: exact names, or ``folder/*`` for what is under a folder. Times after
    ``mtime_max`` are set to it.
    """
    members = tar.getmembers()
    skip = tuple(skip)
    exact = {s for s in skip if not s.endswith("/*")}
    prefixes = tuple(s[:-1] for s in skip if s.endswith("/*"))

    def skipped(name: str) -> bool:
        return name in exact or (bool(prefixes) and name.startswith(prefixes))

    by_name = {_norm(m.name): m for m in members}
    groups: dict[str, list[tarfile.TarInfo]] = {}  # hard links: target -> [target, links...]
    for member in members:
        if member.islnk() and not skipped(_norm(member.name)):
            target = _norm(member.linkname)
            groups.setdefault(target, [by_name[target]]).append(member)
    last = {id(group[-1]) for group in groups.values()}
    inodes = {target: writer.new_ino() for target in groups}
    count = 0
    for member in members:
        name = _norm(member.name)
        if not name or skipped(name):
            continue
        mtime = int(member.mtime) if mtime_max is None else min(int(member.mtime), mtime_max)
        perm = member.mode & 0o7777  # Docker's tar writer puts the type bits in the mode
        if member.islnk() or (member.isreg() and name in groups):
            target = _norm(member.linkname) if member.islnk() else name
            group = groups[target]
            source = group[0]
            data_here = id(member) in last
            writer.add(name, stat.S_IFREG | (source.mode & 0o7777), uid=source.uid,
                       gid=source.gid, mtime=mtime, nlink=len(group), ino=inodes[target],
                       data=tar.extractfile(source) if data_here else None,
                       size=source.size if data_here else 0)
        elif member.isreg():
            writer.add(name, stat.S_IFREG | perm, uid=member.uid, gid=member.gid, mtime=mtime,
                       data=tar.extractfile(member), size=member.size)
        elif member.issym():
            writer.add(name, stat.S_IFLNK | 0o777, uid=member.uid, gid=member.gid, mtime=mtime,
                       data=os.fsencode(member.linkname))
        elif member.type in _TYPES:
            kind = _TYPES[member.type]
            device = (member.devmajor, member.devminor) if kind in (stat.S_IFCHR,
                                                                   stat.S_IFBLK) else (0, 0)
            writer.add(name, kind | perm, uid=member.uid, gid=member.gid, mtime=mtime,
                       nlink=2 if kind == stat.S_IFDIR else 1, rdev=device)
        else:
            raise VmError(f"{name}: a file of a type an initramfs cannot hold "
                          f"({member.type!r}).")
        count += 1
    return count


def init_script(env: Sequence[str] = (), workdir: str = "/") -> str:
    """The generic ``/init`` (busybox sh): mounts, the image's environment and folder, runs
    the command the kernel passes as ``vmx_cmd`` (base64 of a shell line), and writes a
    framed, base64 report to ttyS1 (kernel messages only reach ttyS0), then powers off.

    ``vmx_timeout`` (seconds) kills the command first, so that partial output comes back.
    ``vmx_net=1`` loads the network card's modules (``/.vmx/modules``, when the initramfs
    has them) and gives ``eth0`` the address qemu's user network expects (10.0.2.15).
    The kernel hands unknown ``key=value`` parameters to init as environment variables.
    """
    exports = "\n".join(f"export {shlex.quote(e)}" for e in env if "=" in e)
    return f"""#!/.vmx/busybox sh
B=/.vmx/busybox
$B mount -t proc proc /proc
read U0 _ </proc/uptime
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
$B mkdir -p /dev/pts /dev/shm /tmp /run
$B mount -t devpts devpts /dev/pts
$B mount -t tmpfs tmpfs /dev/shm
$B ip link set lo up 2>/dev/null
$B hostname ac295-vm 2>/dev/null
if [ -n "$vmx_net" ] && [ -f /.vmx/modules/order ]; then
  for M in $($B cat /.vmx/modules/order); do $B insmod /.vmx/modules/$M.ko; done
  $B ip link set eth0 up && $B ip addr add 10.0.2.15/24 dev eth0 && \
    $B ip route add default via 10.0.2.2
fi
T=${{vmx_timeout:-0}}
C=$(echo "$vmx_cmd" | $B base64 -d)
unset vmx_timeout vmx_cmd vmx_net
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{exports}
cd {shlex.quote(workdir)} 2>/dev/null || cd /
O=/.vmx/stdout E=/.vmx/stderr
$B sh -c "$C" >$O 2>$E </dev/null &
P=$!
if [ "$T" -gt 0 ]; then
  ( $B sleep "$T"; $B touch /.vmx/timedout; $B kill -TERM $P; $B sleep 2; $B kill -KILL $P ) >/dev/null 2>&1 &
  W=$!
fi
wait $P
RC=$?
read U1 _ </proc/uptime
[ -n "$W" ] && $B kill -KILL $W >/dev/null 2>&1
R=/dev/ttyS1
echo {MARKER}-REPORT 2>/dev/null >$R || R=/dev/console
{{
  echo {MARKER}-STDOUT-BEGIN
  $B base64 $O
  echo {MARKER}-STDOUT-END
  echo {MARKER}-STDERR-BEGIN
  $B base64 $E
  echo {MARKER}-STDERR-END
  [ -e /.vmx/timedout ] && echo {MARKER}-GUEST-TIMEOUT
  echo {MARKER}-UPTIME=$U0,$U1
  echo {MARKER}-EXIT=$RC
}} >$R
$B sync
$B reboot -f
$B sleep 5
echo b >/proc/sysrq-trigger
"""


class _HashingWriter:
    """A file writer that hashes what it writes (the initramfs is hashed as it is made)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.sha.update(data)
        return len(data)


def _created(created: str) -> int | None:
    match = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)", created)
    if not match:
        return None
    return calendar.timegm(tuple(int(x) for x in match.groups()) + (0, 0, 0))


def from_image(engine: Engine, image_id: str, dest: Path, strip: Sequence[str] = SLIM,
               busybox: Path = BUSYBOX, modules: Path | None = None) -> str:
    """Write the image's file system to ``dest`` as a bootable initramfs; its sha256.
    ``modules``: a kernel's network card modules (``vm.kernel``), added as ``/.vmx/modules``.

    Raises:
        VmError: busybox is missing, or the image holds what an initramfs cannot.
    """
    if not busybox.is_file():
        raise VmError(f"{busybox} is missing: run script/bootstrap (it installs Debian's "
                      "busybox-static).")
    config = images.config(engine, image_id)
    init = init_script(config.env, config.workdir or "/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    try:
        with tempfile.TemporaryFile(dir=dest.parent) as spool:
            images.export_tree(engine, image_id, spool)
            spool.seek(0)
            with open(part, "wb") as raw:
                out = _HashingWriter(raw)
                writer = NewcWriter(out)
                with tarfile.open(fileobj=spool, mode="r:") as tar:
                    tar_to_cpio(tar, writer, [".dockerenv", "dev/*", "init", ".vmx", ".vmx/*",
                                              *strip], _created(config.created))
                writer.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
                writer.add(".vmx", stat.S_IFDIR | 0o755, nlink=2)
                writer.add(".vmx/busybox", stat.S_IFREG | 0o755, data=busybox.read_bytes())
                if modules is not None:
                    writer.add(".vmx/modules", stat.S_IFDIR | 0o755, nlink=2)
                    order = (modules / "order").read_text()
                    writer.add(".vmx/modules/order", stat.S_IFREG | 0o644,
                               data=order.encode())
                    for name in order.split():
                        writer.add(f".vmx/modules/{name}.ko", stat.S_IFREG | 0o644,
                                   data=(modules / f"{name}.ko").read_bytes())
                writer.add("init", stat.S_IFREG | 0o755, data=init.encode())
                writer.close()
        os.replace(part, dest)
        return "sha256:" + out.sha.hexdigest()
    finally:
        part.unlink(missing_ok=True)
