"""A TCP forwarder in its own process: ``python -m tests.scale.forwarder HOST UP_HOST UP_PORT``.

PostgreSQL listens on loopback only; the worker hosts reach it through this, on the bridge. Its
own process and a thread per direction keep it off the test process's GIL, where it would become
the one serial step every host's queries pass through. Prints the port it listens on.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading


def pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def serve(host: str, upstream: tuple[str, int]) -> None:
    server = socket.create_server((host, 0))
    print(server.getsockname()[1], flush=True)
    while True:
        client, _ = server.accept()
        try:
            up = socket.create_connection(upstream, timeout=5)
        except OSError:
            client.close()
            continue
        up.settimeout(None)
        for one, other in ((client, up), (up, client)):
            threading.Thread(target=pipe, args=(one, other), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1], (sys.argv[2], int(sys.argv[3])))
