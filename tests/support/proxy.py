"""A TCP proxy in front of the emulator that can lose an answer Xiaomi already gave, or go away.

The emulator's own ``reset`` fault cuts the connection before it records the send ("Xiaomi never
got it"). This proxy forwards the request at once, so the emulator records it, and then resets the
client's connection instead of passing the answer on: the request reached Xiaomi, the answer was
lost, and a retry is a real duplicate.

``refuse()`` makes the host unreachable, as when Xiaomi's load balancer is gone: the proxy stops
listening (a new connection is refused) and cuts the kept-alive ones; ``accept()`` listens again
on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import deque

from tests.support.redis_server import free_port

_RST_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


class ResponseProxy:
    """Listens on a free loopback port and forwards every connection to ``upstream``.

    ``reset_next(n)``: the next ``n`` responses are read from upstream and dropped, and the
    client's connection is reset instead. ``refuse()`` / ``accept()``: nothing listens on the port
    in between.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._resets: deque[None] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task] = set()
        self._thread = threading.Thread(target=self._run, name="response-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ResponseProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def reset_next(self, count: int = 1) -> None:
        with self._lock:
            self._resets.extend([None] * count)

    def refuse(self) -> None:
        """Stop listening and cut every open connection: a client's next connect is refused."""
        asyncio.run_coroutine_threadsafe(self._refuse(), self._loop).result(10)

    def accept(self) -> None:
        """Listen again on the same port."""
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    async def _refuse(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                _reset(writer)
            await self._server.wait_closed()
            self._server = None

    async def _listen(self) -> None:
        if self._server is None:
            # start_server sets SO_REUSEADDR: the port is free again at once after refuse().
            self._server = await asyncio.start_server(self._accepted, "127.0.0.1", self.port)

    def _take_reset(self) -> bool:
        with self._lock:
            if self._resets:
                self._resets.popleft()
                return True
            return False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        await self._listen()
        self._ready.set()
        await self._stop.wait()
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):  # keep-alive connections: end them before the loop closes
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._clients.add(writer)
        try:
            await self._handle(reader, writer)
        except asyncio.CancelledError:
            pass  # stop(): end quietly (Python 3.11's stream server chokes on a cancelled task)
        finally:
            self._handlers.discard(task)
            self._clients.discard(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(writer)
            return
        forward = asyncio.ensure_future(self._requests(reader, up_writer))
        try:
            while chunk := await up_reader.read(65536):
                if self._take_reset():
                    _reset(writer)
                    break
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            forward.cancel()
            await asyncio.gather(forward, return_exceptions=True)
            up_writer.close()
            writer.close()

    @staticmethod
    async def _requests(reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                up_writer.write(chunk)
                await up_writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            up_writer.close()  # the client went away (or was killed): so does the upstream side


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
    writer.transport.abort()
