"""The workloads the `compare` exercise times in every runtime: standard library only.

    python3 workloads.py ready             print "ready" (start-up latency is timed outside)
    python3 workloads.py suite --reps N    run each workload N times, print JSON seconds

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
import os
import socket
import tempfile
import threading
import time


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["ready", "suite"])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if args.what == "ready":
        print("ready", flush=True)
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
