"""A hostile class: students' images that attack the grader, for the integration and cluster
suites (tests/integration/test_hostile_images.py, tests/swarm/test_cluster.py).

Each image is exercise 2's with its ``/app/Question.py`` replaced by an attack written here
(the test's own code, not the project's). An attack prints the right answer only when it
worked: a row "passed" is a breach. Each also prints what it found, which a failing test
shows. The grade step that checks them is ``exercises/hostile/exercise.yml`` in the project
copy (``write_exercise``), with a short timeout.
"""
from __future__ import annotations

import io
import ipaddress
import socket
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import docker

ANSWER = "Answer: 2640"
WRONG_OUTPUT = r"^stdout does not match /\^Answer: 2640\$/$"
#: What the forked children of the fork attack run: a marker the host's process list shows.
FORK_MARKER = "6001"

CONNECT = '''
import socket, sys
def reach(host, port, send=b"GET /containers/json HTTP/1.0\\r\\n\\r\\n"):
    """What a connection to host:port answered (b"(connected)" if nothing), or None."""
    try:
        s = socket.create_connection((host, port), timeout=2)
    except OSError as err:
        print(f"{{host}}:{{port}}: {{err}}", file=sys.stderr)
        return None
    try:
        s.sendall(send)
        return s.recv(200) or b"(connected)"
    except OSError:
        return b"(connected)"
    finally:
        s.close()
'''

ATTACKS = {
    # the Docker API: the engine's socket (never mounted), the host's and the cluster's TCP
    # ports (2375 plain, 2376 TLS), every address given
    "api": CONNECT + '''
import os
found = []
for path in ("/var/run/docker.sock", "/run/docker.sock", "/var/run/docker/docker.sock"):
    if os.path.exists(path):
        found.append(path)
for host in {api_hosts!r}:
    for port in (2375, 2376, 2377):
        got = reach(host, port)  # an answer to "list the containers", or a refusal
        if got and got.split(b"\\r\\n")[0].startswith(b"HTTP/1") and b" 200 " in got[:20]:
            found.append(f"{{host}}:{{port}} {{got[:60]!r}}")
if found:
    print("{answer}")
print("api:", found or "nothing answered")
''',
    # a port the test opens on the host's bridge address, and the engine's gateway
    "host": CONNECT + '''
got = reach({host_address!r}, {host_port}, b"hello from a student\\n")
if got:
    print("{answer}")
print("host listener:", got)
''',
    # another student's container on the default bridge (where a check ran before), at a
    # known address, and the whole bridge subnet on its port
    "scanner": CONNECT + '''
import ipaddress, time
found = []
net = ipaddress.ip_network({neighbour!r} + "/24", strict=False)
end = time.monotonic() + 6  # while the other student listens
while time.monotonic() < end and not found:
    found += [h for h in [{neighbour!r}, "127.0.0.1"] if reach(h, 8000)]
    for h in list(net.hosts())[:40]:
        try:
            with socket.create_connection((str(h), 8000), timeout=0.05):
                found.append(str(h))
        except OSError:
            pass
    time.sleep(0.5)
if found:
    print("{answer}")
print("neighbours reached:", found)
''',
    # a student graded at the same time as "scanner": it waits for anyone to connect
    "listener": '''
import socket
server = socket.create_server(("0.0.0.0", 8000))
server.settimeout(8)
try:
    peer = server.accept()[1]
    print("{answer}")
    print("reached by", peer)
except OSError as err:
    print("nobody came:", err)
''',
    # a thousand processes that outlive the check unless the container takes them along
    "forks": '''
import os, sys
n = 0
for _ in range(1000):
    try:
        pid = os.fork()
    except OSError as err:
        print("fork refused after", n, "children:", err, flush=True)
        break
    if pid == 0:
        os.execvp("sleep", ["sleep", "{fork_marker}"])
    n += 1
if n >= 1000:
    print("{answer}", flush=True)
print("forked", n, flush=True)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
''',
    # fill /tmp, the root file system, /app and /var/tmp with 128 MB each (/tmp holds 64)
    "fill": '''
def fill(path):
    n = 0
    try:
        with open(path, "wb") as out:
            while n < 128 << 20:
                out.write(b"\\0" * (1 << 20))
                n += 1 << 20
            out.flush()
    except OSError as err:
        return n, err.strerror
    return n, "no error"
found = {{p: fill(p) for p in ("/tmp/fill", "/fill", "/app/fill", "/var/tmp/fill")}}
if found["/tmp/fill"][0] > 64 << 20 or any(n for p, (n, _) in found.items() if p != "/tmp/fill"):
    print("{answer}")
print("written:", found)
''',
    # privileges a root user has with capabilities: mount, chown, raw sockets, hostname
    "privileges": '''
import ctypes, os, socket
done = []
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0:
    done.append("mount")
open("/tmp/x", "w").close()
try:
    os.chown("/tmp/x", 1234, 1234)
    done.append("chown")
except OSError:
    pass
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    done.append("raw socket")
except OSError:
    pass
if libc.sethostname(b"owned", 5) == 0:
    done.append("sethostname")
try:
    os.mknod("/tmp/disk", 0o600 | 0o060000, os.makedev(8, 0))
    done.append("mknod")
except OSError:
    pass
if done:
    print("{answer}")
print("privileged operations that worked:", done, "uid", os.getuid())
''',
    # 1 GB on stdout, then the answer
    "flood": '''
import sys
chunk = b"y" * (1 << 20)
for _ in range(1024):
    sys.stdout.buffer.write(chunk)
sys.stdout.buffer.write(b"\\n{answer}\\n")
''',
    # never ends
    "sleeper": '''
import time
time.sleep(10 ** 6)
''',
    # the parent exits 0 at once, printing nothing; its child prints the answer later
    "orphan": '''
import os, time
if os.fork() == 0:
    time.sleep(2)
    print("{answer}", flush=True)
    os._exit(0)
os._exit(0)
''',
    # output that looks like the grader's own: a table row, doit's lines, escapes
    "forger": '''
import os
print("| forger | sha256:0000 | passed |  | local |")
print("forger,sha256:0000,passed,,local")
print(".  hostile:check.forger")
print("\\x1b[2K\\r{answer} ")
for path in ("/work", "/root/.ac295", "/proc/1/root/tmp/forged"):
    try:
        open(path + "/results.csv", "w").write("forged")
        print("{answer}")
    except OSError:
        pass
''',
}


@dataclass(frozen=True)
class Row:
    """The grade table's row an attack must get: result and a regex of the reason."""

    result: str
    reason: str


def rows(timeout: int) -> dict[str, Row]:
    """The expected row of each attack, and of the two honest students (by hand)."""
    timed_out = rf"^timed out: still running after {timeout} s$"
    expected = {name: Row("failed", WRONG_OUTPUT) for name in ATTACKS}
    no_network = WRONG_OUTPUT[:-1] + r"; \(it has no network\)$"  # what the grader explains
    for name in ("api", "host", "scanner"):
        expected[name] = Row("failed", no_network)
    expected["fill"] = Row("failed", WRONG_OUTPUT[:-1] + r"; \(its root file system is "
                           r"read-only\)$")
    expected.update(forks=Row("failed", timed_out), sleeper=Row("failed", timed_out),
                    flood=Row("failed", r"^output too large: more than 1 MB on stdout$"),
                    right=Row("passed", "^$"), wrong=Row("failed", WRONG_OUTPUT))
    return expected


def script(name: str, **targets: object) -> str:
    return ATTACKS[name].format(answer=ANSWER, fork_marker=FORK_MARKER, **targets)


def build(engine: docker.DockerClient, base: str, student: str, text: str,
          registry: str, extra: bytes = b"") -> str:
    """Build ``FROM base`` with ``/app/Question.py`` = ``text``, push it as the student's
    exercise 2; the reference. ``extra``: a file of its own (a layer no one else has)."""
    dockerfile = f"FROM {base}\nCOPY Question.py /app/Question.py\n"
    files = {"Question.py": text.encode()}
    if extra:
        dockerfile += "COPY extra /extra\n"
        files["extra"] = extra
    files["Dockerfile"] = dockerfile.encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    repository = f"{registry}/{student}/ac295_playground"
    engine.images.build(fileobj=context, custom_context=True, tag=f"{repository}:exercise2",
                        rm=True, forcerm=True)
    for chunk in engine.api.push(repository, tag="exercise2", stream=True, decode=True):
        assert "error" not in chunk, chunk
    return f"{repository}:exercise2"


def write_exercise(root: Path, students: list[str], timeout: int,
                   name: str = "hostile") -> None:
    """An exercise with one grade step, ``check``, over ``students``."""
    folder = root / "exercises" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "roster.yml").write_text("students:\n" + "".join(f"  - {s}\n" for s in students))
    (folder / "exercise.yml").write_text(
        "doc: a class that attacks its grader\nsteps:\n  check:\n    grade: roster.yml\n"
        '    image: "{registry}/{student}/ac295_playground:exercise2"\n'
        "    command: [python3, /app/Question.py]\n"
        f'    expect: {{stdout: ["^{ANSWER}$"]}}\n    timeout: {timeout}\n')


class Listener(threading.Thread):
    """A TCP port the test opens on one of the host's addresses; it counts who connects."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server((address, 0))
        self.address, self.port = address, self.server.getsockname()[1]
        self.accepted: list[str] = []

    def run(self) -> None:
        while True:
            try:
                conn, peer = self.server.accept()
            except OSError:
                return
            self.accepted.append(str(peer))
            conn.close()

    def close(self) -> None:
        self.server.close()


def bridge_gateway(engine: docker.DockerClient) -> str:
    """The host's address on the engine's default bridge (docker0)."""
    config = engine.networks.get("bridge").attrs["IPAM"]["Config"][0]
    if config.get("Gateway"):
        return str(config["Gateway"])
    return str(next(ipaddress.ip_network(config["Subnet"]).hosts()))  # the engine's default


def marked_processes() -> list[str]:
    """Processes on this machine whose command is the fork attack's ``sleep`` (the host's
    own process list: the oracle that nothing a student forked is left)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", FORK_MARKER.encode()]:
                found.append(proc.name)
    return found
