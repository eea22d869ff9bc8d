"""The workloads the `compare` exercise times in every runtime: standard library only, and
the standard benchmarks from Debian's archive (hpcc, sysbench, fio, iperf3).

    python3 workloads.py ready             print "ready" (start-up latency is timed outside)
    python3 workloads.py suite --reps N    run each workload N times, print JSON seconds
    python3 workloads.py bench --size S    run the standard benchmarks once, print JSON figures
    python3 workloads.py serve P1 P2       an iperf3 server on port P1 and a TCP echo server on
                                           P2, until killed (the network tests' far end)
    python3 workloads.py netclient HOST P1 P2 --size S
                                           round trips to the echo server, then iperf3 -c;
                                           print JSON figures (run on the host)
    python3 workloads.py netclient HOST P1 P2 --ready
                                           exit 0 once the echo server answers (iperf3 is
                                           listening before it starts)

Each workload is timed inside the runtime (time.perf_counter), so a runtime's start-up is
not in it; its size is fixed, so the seconds compare across runtimes:

    cpu_python   pure-Python arithmetic (the interpreter's loop)
    cpu_sha256   sha256 of 32 MB (compiled code: OpenSSL)
    memory       copying a 64 MB buffer 8 times (memory bandwidth)
    file_io      writing 32 MB in 1 MB blocks with fsync, then reading it back
    network      2000 request/response round trips over loopback TCP
"""
from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any


def cpu_python() -> None:
    total = 0
    for i in range(1_500_000):
        total += i * i % 7
    assert total > 0


def cpu_sha256() -> None:
    hashlib.sha256(b"\x5a" * (32 << 20)).hexdigest()


def memory() -> None:
    buffer = bytearray(64 << 20)
    for _ in range(8):
        bytes(buffer)  # one memcpy of 64 MB


def file_io() -> None:
    block = os.urandom(1 << 20)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data")
        with open(path, "wb") as out:
            for _ in range(32):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        with open(path, "rb") as back:
            while back.read(1 << 20):
                pass


def network() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def echo() -> None:
        connection, _ = server.accept()
        with connection:
            while data := connection.recv(64):
                connection.sendall(data)

    thread = threading.Thread(target=echo)
    thread.start()
    with socket.create_connection(server.getsockname()) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(2000):
            client.sendall(b"x" * 64)
            received = 0
            while received < 64:
                received += len(client.recv(64 - received))
    thread.join()
    server.close()


WORKLOADS = {"cpu_python": cpu_python, "cpu_sha256": cpu_sha256, "memory": memory,
             "file_io": file_io, "network": network}


#: The benchmarks' sizes. "full" is what the lecture's table uses; everything must finish in
#: a VM under TCG (no KVM here), where compiled code runs 10 to 50 times slower: about 10
#: minutes a run there. HPL's matrix (N=1500, 18 MB) sizes hpcc's other tests too, so
#: STREAM's vectors (6 MB each) sit in the L3 cache (32 MB on the development machine):
#: hpcc's STREAM measures cache bandwidth here; sysbench memory (64 MiB blocks) measures the
#: memory's. "small" is for the tests: every figure, quickly.
SIZES: dict[str, dict[str, Any]] = {
    "full": {"hpl_n": 1500, "cpu_events": 1000, "cpu_prime": 10000, "mem_block": "64M",
             "mem_total": "8G", "fio_seq": "256M", "fio_rand": "32M", "iperf_s": 5,
             "round_trips": 2000},
    "small": {"hpl_n": 300, "cpu_events": 40, "cpu_prime": 10000, "mem_block": "1M",
              "mem_total": "256M", "fio_seq": "16M", "fio_rand": "2M", "iperf_s": 1,
              "round_trips": 100},
}
#: hpcc's input (Debian's example, /usr/share/doc/hpcc/examples/_hpccinf.txt) with one N and
#: one process: two Open MPI ranks busy-polling on two loaded cores took 5 to 10 times longer
#: and varied threefold between runs here, which no runtime comparison survives.
HPCCINF = """HPLinpack benchmark input file
Innovative Computing Laboratory, University of Tennessee
HPL.out      output file name (if any)
8            device out (6=stdout,7=stderr,file)
1            # of problems sizes (N)
{n}         Ns
1            # of NBs
80           NBs
0            PMAP process mapping (0=Row-,1=Column-major)
1            # of process grids (P x Q)
1            Ps
1            Qs
16.0         threshold
1            # of panel fact
2            PFACTs (0=left, 1=Crout, 2=Right)
1            # of recursive stopping criterium
4            NBMINs (>= 1)
1            # of panels in recursion
2            NDIVs
1            # of recursive panel fact.
1            RFACTs (0=left, 1=Crout, 2=Right)
1            # of broadcast
1            BCASTs (0=1rg,1=1rM,2=2rg,3=2rM,4=Lng,5=LnM)
1            # of lookahead depth
1            DEPTHs (>=0)
2            SWAP (0=bin-exch,1=long,2=mix)
64           swapping threshold
0            L1 in (0=transposed,1=no-transposed) form
0            U  in (0=transposed,1=no-transposed) form
1            Equilibration (0=no,1=yes)
8            memory alignment in double (> 0)
##### This line (no. 32) is ignored (it serves as a separator). ######
0                      \t\tNumber of additional problem sizes for PTRANS
1200 10000 30000        \tvalues of N
0                       \tnumber of additional blocking sizes for PTRANS
40 9 8 13 13 20 16 32 64       \tvalues of NB
"""
#: Open MPI as root, in a container: allowed, and without cross-memory attach (ptrace is
#: not permitted in a container, and one rank needs no shared memory anyway).
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_btl_vader_single_copy_mechanism": "none", "OMPI_MCA_btl": "self,vader",
           "OMPI_MCA_plm_rsh_agent": "", "HWLOC_HIDE_ERRORS": "2"}


def _tool(command: list[str], cwd: str | None = None, env: dict[str, str] | None = None,
          timeout: float = 3600) -> str:
    """A benchmark's output; its failure ends this program with the tool's own words."""
    try:
        found = subprocess.run(command, cwd=cwd, env={**os.environ, **(env or {})},
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout)
    except FileNotFoundError:
        sys.exit(f"{command[0]} is not installed here (Debian's package {command[0]}).")
    if found.returncode != 0:
        sys.exit(f"{' '.join(command[:2])} failed ({found.returncode}): "
                 f"{(found.stderr or found.stdout)[-1500:]}")
    return found.stdout


def _scratch() -> str:
    """Where the disk benchmarks write: the runtime's own file system, not /tmp (a tmpfs in
    some runtimes)."""
    return os.environ.get("BENCH_DIR") or "/var/tmp"


def hpcc(n: int) -> dict[str, float]:
    """HPL (GFLOP/s) and STREAM Copy and Triad (GB/s, one process) from one hpcc run."""
    with tempfile.TemporaryDirectory(dir=_scratch()) as folder:
        with open(os.path.join(folder, "hpccinf.txt"), "w") as out:
            out.write(HPCCINF.format(n=n))
        _tool(["hpcc"], cwd=folder, env=MPI_ENV)
        with open(os.path.join(folder, "hpccoutf.txt")) as result:
            summary = dict(re.findall(r"^(\w+)=(\S+)$", result.read(), re.M))
    if summary.get("Success") != "1" and summary.get("Failure", "1") != "0":
        sys.exit(f"hpcc's checks failed (HPL_N={summary.get('HPL_N')}).")
    return {"hpl": float(summary["HPL_Tflops"]) * 1000,
            "stream_copy": float(summary["SingleSTREAM_Copy"]),
            "stream_triad": float(summary["SingleSTREAM_Triad"])}


def sysbench_cpu(events: int, prime: int) -> dict[str, float]:
    """sysbench cpu on both cores: events (primes up to ``prime``) per second."""
    said = _tool(["sysbench", "cpu", "--threads=2", f"--cpu-max-prime={prime}",
                  f"--events={events}", "--time=0", "run"])
    return {"sysbench_cpu": float(re.search(r"events per second:\s*([\d.]+)", said)[1])}


def sysbench_memory(block: str, total: str) -> dict[str, float]:
    """sysbench memory on both cores: MiB written per second, in blocks of ``block``."""
    said = _tool(["sysbench", "memory", "--threads=2", f"--memory-block-size={block}",
                  f"--memory-total-size={total}", "--time=0", "run"])
    return {"sysbench_memory": float(re.search(r"\(([\d.]+) MiB/sec\)", said)[1])}


def direct_io(folder: str) -> bool:
    """Whether files here can be opened with O_DIRECT (not on tmpfs, nor an initramfs)."""
    path = os.path.join(folder, "probe")
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | getattr(os, "O_DIRECT", 0), 0o600)
    except OSError:
        return False
    try:
        block = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT needs
        os.write(fd, block)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        os.unlink(path)


def fio(seq: str, rand: str) -> dict[str, float]:
    """fio, one job at a time on one file: sequential write and read (MiB/s, 1 MiB blocks),
    random read and write (IOPS, 4 KiB blocks); O_DIRECT where the file system allows."""
    found: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=_scratch()) as folder:
        direct = direct_io(folder)
        jobs = [("fio_seq_write", "write", "1M", seq, "bw"),
                ("fio_seq_read", "read", "1M", seq, "bw"),
                ("fio_rand_read", "randread", "4k", rand, "iops"),
                ("fio_rand_write", "randwrite", "4k", rand, "iops")]
        for name, rw, block, size, what in jobs:
            said = _tool(["fio", "--name", name, "--filename", os.path.join(folder, "data"),
                          f"--rw={rw}", f"--bs={block}", f"--size={size}", "--ioengine=psync",
                          f"--direct={int(direct)}", "--end_fsync=1", "--invalidate=1",
                          "--output-format=json"])
            job = json.loads(said[said.index("{"):])["jobs"][0]
            side = job["read"] if "read" in rw else job["write"]
            found[name] = side["bw"] / 1024 if what == "bw" else side["iops"]
    found["fio_direct"] = float(direct)
    return found


def bench(size: str) -> dict[str, float]:
    sizes = SIZES[size]
    found: dict[str, float] = {}
    found.update(hpcc(int(sizes["hpl_n"])))
    found.update(sysbench_cpu(int(sizes["cpu_events"]), int(sizes["cpu_prime"])))
    found.update(sysbench_memory(str(sizes["mem_block"]), str(sizes["mem_total"])))
    found.update(fio(str(sizes["fio_seq"]), str(sizes["fio_rand"])))
    return found


def _listening(port: int) -> bool:
    """Whether something listens on TCP ``port`` here (read from /proc: no connection made,
    which iperf3 would count as a failed test)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                for line in list(lines)[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def serve(iperf_port: int, echo_port: int) -> None:
    """iperf3's server, then a TCP echo server (one thread per connection), until killed."""
    iperf = subprocess.Popen(["iperf3", "--server", "--port", str(iperf_port)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def stop(*_: object) -> None:
        iperf.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + 120
    while not _listening(iperf_port):
        if iperf.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"iperf3 did not start listening on {iperf_port}.")
        time.sleep(0.05)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", echo_port))
    server.listen(8)
    print("serving", flush=True)

    def echo(connection: socket.socket) -> None:
        with connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := connection.recv(4096):
                connection.sendall(data)

    while True:
        connection, _ = server.accept()
        threading.Thread(target=echo, args=(connection,), daemon=True).start()


def round_trips(host: str, port: int, count: int) -> list[float]:
    """``count`` request/response round trips of 64 bytes over one TCP connection (as
    netperf's TCP_RR does); each one's seconds."""
    found = []
    with socket.create_connection((host, port), timeout=30) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter()
            client.sendall(b"x" * 64)
            received = 0
            while received < 64:
                chunk = client.recv(64 - received)
                if not chunk:
                    raise ConnectionError("the echo server closed the connection")
                received += len(chunk)
            found.append(time.perf_counter() - start)
    return found


def netclient(host: str, iperf_port: int, echo_port: int, size: str | None) -> None:
    if size is None:  # --ready: does the echo server answer (through every hop)?
        try:
            round_trips(host, echo_port, 1)
        except OSError as err:
            sys.exit(f"not ready: {err}")
        return
    sizes = SIZES[size]
    trips = round_trips(host, echo_port, int(sizes["round_trips"]))
    said = _tool(["iperf3", "--client", host, "--port", str(iperf_port), "--time",
                  str(sizes["iperf_s"]), "--json"], timeout=120)
    end = json.loads(said)["end"]
    print(json.dumps({"rtt": statistics.median(trips) * 1e6,
                      "throughput": end["sum_received"]["bits_per_second"] / 1e9}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="what", required=True)
    commands.add_parser("ready")
    suite = commands.add_parser("suite")
    suite.add_argument("--reps", type=int, default=5)
    benchmarks = commands.add_parser("bench")
    benchmarks.add_argument("--size", choices=sorted(SIZES), default="full")
    server = commands.add_parser("serve")
    server.add_argument("iperf_port", type=int)
    server.add_argument("echo_port", type=int)
    client = commands.add_parser("netclient")
    client.add_argument("host")
    client.add_argument("iperf_port", type=int)
    client.add_argument("echo_port", type=int)
    what = client.add_mutually_exclusive_group(required=True)
    what.add_argument("--size", choices=sorted(SIZES))
    what.add_argument("--ready", action="store_true")
    args = parser.parse_args()
    if args.what == "ready":
        print("ready", flush=True)
        return
    if args.what == "bench":
        print(json.dumps(bench(args.size)))
        return
    if args.what == "serve":
        serve(args.iperf_port, args.echo_port)
        return
    if args.what == "netclient":
        netclient(args.host, args.iperf_port, args.echo_port, args.size)
        return
    seconds: dict[str, list[float]] = {}
    for name, workload in WORKLOADS.items():
        seconds[name] = []
        for _ in range(args.reps):
            start = time.perf_counter()
            workload()
            seconds[name].append(round(time.perf_counter() - start, 6))
    print(json.dumps(seconds))


if __name__ == "__main__":
    main()
