"""Emulator: both environments' servers on one background event loop, plus Python accessors."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from aiohttp import web

from .app import Core, build_app, known_set
from .apps import EmulatorApp, apps_from_env, index_apps
from .faults import ENVIRONMENTS, PRODUCTION, SANDBOX, Faults, FaultState
from .state import DEFAULT_MAX_RECORDS, Recorder

START_TIMEOUT = 10.0
# Bounds stop(): in-flight handlers get this long; hangs are released at once anyway.
SHUTDOWN_TIMEOUT = 2.0
BACKLOG = 1024


class Emulator:
    """A local Xiaomi Push server over real HTTP: production and sandbox on two ports.

    `apps=None` builds the apps from the worker's MIPUSH_* environment variables.
    `known_targets=None` means every alias/regid/account exists; otherwise unknown ones are
    dropped and a send naming none of the known ones gets 20301. Every accessor is thread-safe.
    """

    def __init__(
        self,
        apps: Iterable[EmulatorApp] | None = None,
        known_targets: Iterable[str] | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        sandbox_port: int = 0,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        self.apps: tuple[EmulatorApp, ...] = tuple(apps_from_env() if apps is None else apps)
        self._faults = FaultState(faults)
        self._recorder = Recorder(max_records)
        self._core = Core(
            index_apps(self.apps), known_set(known_targets), self._faults, self._recorder
        )
        for name, value in (("port", port), ("sandbox_port", sandbox_port)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise ValueError(f"{name} must be a port number 0..65535, got {value!r}")
        self.host = host
        self._requested_ports = {PRODUCTION: port, SANDBOX: sandbox_port}
        self._ports: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen on both ports and serve in a daemon thread; returns once both accept."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        sockets = {}
        try:
            for env in ENVIRONMENTS:  # bound here so a busy port raises in the caller
                sockets[env] = _listen(self.host, self._requested_ports[env])
        except OSError:
            for sock in sockets.values():
                sock.close()
            raise
        self._ports = {env: sock.getsockname()[1] for env, sock in sockets.items()}
        ready = threading.Event()
        failures: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(sockets, ready, failures), name="mipush-emulator", daemon=True
        )
        self._thread.start()
        if not ready.wait(START_TIMEOUT) or failures:
            self.stop()
            for sock in sockets.values():
                sock.close()
            raise RuntimeError("emulator failed to start") from (failures[0] if failures else None)
        return self

    def stop(self) -> None:
        """Close both servers, releasing hung requests; safe to call twice or before start."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None:
            return
        if stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(START_TIMEOUT + SHUTDOWN_TIMEOUT)
        self._thread = self._loop = self._stopping = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(
        self,
        sockets: dict[str, socket.socket],
        ready: threading.Event,
        failures: list[BaseException],
    ) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(sockets, ready))
        except BaseException as exc:  # reported to start(); the thread must not die silently
            failures.append(exc)
        finally:
            ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self, sockets: dict[str, socket.socket], ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        self._core.closing = asyncio.Event()  # bound to this loop; a restart gets a fresh one
        runners: list[web.AppRunner] = []
        try:
            for env, sock in sockets.items():
                runner = web.AppRunner(
                    build_app(self._core, env),
                    access_log=None,  # per-request logging would cost more than the handler
                    handler_cancellation=True,  # a client giving up ends its hang
                    shutdown_timeout=SHUTDOWN_TIMEOUT,
                )
                await runner.setup()
                runners.append(runner)
                await web.SockSite(runner, sock, backlog=BACKLOG).start()
            ready.set()
            await self._stopping.wait()
        finally:
            self._core.closing.set()
            for runner in runners:
                await runner.cleanup()

    # -- addresses -------------------------------------------------------------------------

    @property
    def production_url(self) -> str:
        return self._url(PRODUCTION)

    @property
    def sandbox_url(self) -> str:
        return self._url(SANDBOX)

    def _url(self, environment: str) -> str:
        if environment not in self._ports:
            raise RuntimeError("emulator not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._ports[environment]}"

    # -- inspection and control ------------------------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        """Every accepted send (one record per multi_messages item), oldest first."""
        return self._recorder.messages()

    def requests(self) -> list[dict[str, Any]]:
        """Every Xiaomi API request, including refused and faulted ones, oldest first."""
        return self._recorder.requests()

    def stats(self) -> dict[str, Any]:
        """Counters: requests, by_outcome, by_code, by_fault, by_environment, messages."""
        return self._recorder.stats()

    def faults(self) -> Faults:
        """The current fault settings (the script shows only entries not yet consumed)."""
        return self._faults.get()

    def set_faults(self, faults: Faults | None = None, **fields: Any) -> Faults:
        """Replace the fault settings: `set_faults(Faults(...))`, `set_faults(fail_rate=0.5)`,
        or both (fields override the given Faults). `set_faults()` clears every fault."""
        new = dataclasses.replace(faults or Faults(), **fields)
        self._faults.set(new)
        return self._faults.get()

    def set_known_targets(self, targets: Iterable[str] | None) -> None:
        """Replace the known targets; None means every target exists."""
        self._core.known_targets = known_set(targets)

    def reset(self) -> None:
        """Forget messages, requests and counters and clear every fault (apps and targets stay)."""
        self._recorder.reset()
        self._faults.set(Faults())


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock
