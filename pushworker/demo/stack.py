"""The demo's processes: Redis (or a given broker), the emulator, the worker; and stopping them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pushworker.demo.settings import ANDROID_PACKAGE, IOS_BUNDLE

if TYPE_CHECKING:
    from pushworker.demo.localredis import LocalRedis
    from pushworker.emulator import Emulator

WORKER_READY_SECONDS = 30.0


class Stack:
    """What the demo started; ``stop()`` stops each part that got far enough to be recorded."""

    def __init__(self, workdir: Path, step: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.step = step  # reports progress, timed from the demo's start
        self.redis: LocalRedis | None = None
        self.emulator: Emulator | None = None
        self.worker: subprocess.Popen | None = None
        self.worker_log = workdir / "worker.log"
        self.broker_url = ""

    def start_broker(self) -> None:
        given = os.environ.get("PUSHWORKER_BROKER_URL", "").strip()
        if given:
            from kombu.utils.url import maybe_sanitize_url

            self.broker_url = given
            self.step(
                f"broker: {maybe_sanitize_url(given)} (from PUSHWORKER_BROKER_URL); "
                "not starting Redis"
            )
            return
        from pushworker.demo.localredis import LocalRedis, bundled_binary

        binary = bundled_binary()
        self.redis = LocalRedis(self.workdir / "redis", binary=binary)  # stop() sees a half start
        self.redis.start()
        self.broker_url = self.redis.url
        self.step(f"redis-server started on 127.0.0.1:{self.redis.port} ({binary})")

    def start_emulator(self, android_secret: str, ios_secret: str) -> Emulator:
        from pushworker.emulator import Emulator, EmulatorApp

        self.emulator = Emulator(
            apps=[
                EmulatorApp(secret=android_secret, package=ANDROID_PACKAGE, platform="android"),
                EmulatorApp(secret=ios_secret, package=IOS_BUNDLE, platform="ios"),
            ]
        ).start()
        self.step(
            f"Xiaomi emulator listening: production {self.emulator.production_url}, "
            f"sandbox {self.emulator.sandbox_url}"
        )
        return self.emulator

    def start_worker(self, env: dict[str, str]) -> None:
        """``celery worker -B`` in its own session; returns once it logs that it is ready."""
        from pushworker.celery import worker_command

        args = worker_command("demo", beat_schedule=env["PUSHWORKER_BEAT_SCHEDULE"])
        with open(self.worker_log, "ab") as log:
            self.worker = subprocess.Popen(
                args,
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"the celery worker exited early:\n{self.log_tail()}")
            if b" ready." in self.worker_log.read_bytes():
                self.step(
                    f"celery worker ready (pid {self.worker.pid}, prefork -c 2, embedded beat)"
                )
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"the celery worker was not ready in {WORKER_READY_SECONDS:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        if not self.worker_log.exists():
            return "(no worker log)"
        text = self.worker_log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join("    " + line for line in text)

    def stop(self) -> None:
        """Stop whatever was started, in reverse order; never raises."""
        if self.worker is not None and self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.worker.send_signal(signal.SIGTERM)  # warm shutdown
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.worker.wait(timeout=10)
        if self.worker is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.worker.pid, signal.SIGKILL)  # pool children and beat, if any left
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.worker.wait(timeout=5)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop()
        if self.emulator is not None:
            with contextlib.suppress(Exception):
                self.emulator.stop()


class Interrupted(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so no ``except Exception`` swallows it."""


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted(f"signal {signum}")


@contextlib.contextmanager
def _signal_handlers(handlers: dict[signal.Signals, Any]) -> Iterator[None]:
    """``handlers`` for the block, the previous ones after it; nothing off the main thread."""
    try:
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    except ValueError:  # signal.signal() works in the main thread only
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def sigterm_unwinds() -> contextlib.AbstractContextManager[None]:
    """SIGTERM unwinds like Ctrl-C so everything started is stopped by the ``finally`` blocks."""
    return _signal_handlers({signal.SIGTERM: _raise_interrupted})


def signals_ignored() -> contextlib.AbstractContextManager[None]:
    """While stopping, a second Ctrl-C or SIGTERM must not cut the clean-up short."""
    return _signal_handlers({signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_IGN})
