"""``python -m tasks.cluster.forward LISTEN_PORT HOST:PORT``: 127.0.0.1:LISTEN_PORT to HOST:PORT.

A service published on a Swarm node (host mode) answers on that node's address; the checks
of an exercise ask ``127.0.0.1:<port>`` as they do on one engine. This forwards one to the
other, on loopback only, for as long as the service runs (it is stopped with the service).
"""
from __future__ import annotations

import socket
import sys
import threading


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (sink, source):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(port: int, target: tuple[str, int]) -> None:
    listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
    print("forwarding", flush=True)
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        for one, other in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(one, other), daemon=True).start()


if __name__ == "__main__":
    host, _, target_port = sys.argv[2].rpartition(":")
    serve(int(sys.argv[1]), (host, int(target_port)))
