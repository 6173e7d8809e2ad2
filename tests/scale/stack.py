"""Redis, the emulator and a PostgreSQL proxy on the bridge; worker hosts in the namespaces.

Each host is one ``celery worker`` (embedded beat optional) run with ``ip netns exec`` in its own
namespace, with its own PUSHWORKER_HOME and working directory: the hosts share no file, only the
network services.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dj_database_url

from pushworker.demo.settings import ANDROID_PACKAGE, FAST_SETTINGS, IOS_BUNDLE
from tests.scale.netns import Network
from tests.support import database
from tests.support.redis_server import redis_binary

ROOT = Path(__file__).resolve().parents[2]


def die_with_parent() -> None:
    """In a child before exec: SIGTERM it when the test process dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Forwarder:
    """``tests/scale/forwarder.py`` as a subprocess: PostgreSQL on the bridge address."""

    def __init__(self, listen: str, upstream: tuple[str, int]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.scale.forwarder", listen, upstream[0], str(upstream[1])],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


class Host:
    """One worker host: ``celery worker`` in namespace ``index``, its files in its own dir."""

    def __init__(
        self,
        network: Network,
        index: int,
        env: dict[str, str],
        home: Path,
        *,
        concurrency: int,
        beat: bool,
    ) -> None:
        from pushworker.celery import worker_command

        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home / "worker.log"
        env = {**env, "PUSHWORKER_HOME": str(home), "TMPDIR": str(home)}
        schedule = str(home / "celerybeat-schedule") if beat else None
        args = worker_command(f"host{index}", concurrency=concurrency, beat_schedule=schedule)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                network.command(index, args),
                env=env,
                cwd=home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"worker host exited early:\n{self.log()[-4000:]}")
        return " ready." in self.log()

    def kill(self) -> None:
        """SIGKILL the whole host (worker, pool, beat): a power cut."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


class ScaleStack:
    def __init__(self, tmp: Path, network: Network) -> None:
        self.tmp = tmp
        self.network = network
        self.hosts: list[Host] = []
        self._cleanups: list = []
        try:
            self._start(tmp, network)
        except BaseException:
            self.close()  # whatever started before the failure
            raise

    def _start(self, tmp: Path, network: Network) -> None:
        from pushworker.emulator import Emulator, EmulatorApp

        self.database_url, drop = database.create(tmp)
        self._cleanups.append(drop)
        db = dj_database_url.parse(self.database_url)
        self.forwarder = Forwarder(
            network.gateway, (db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
        )
        self._cleanups.append(self.forwarder.stop)
        android_secret, ios_secret = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        self.emulator = Emulator(
            apps=[
                EmulatorApp(secret=android_secret, package=ANDROID_PACKAGE, platform="android"),
                EmulatorApp(secret=ios_secret, package=IOS_BUNDLE, platform="ios"),
            ],
            host=network.gateway,
        ).start()
        self._cleanups.append(self.emulator.stop)
        password = secrets.token_urlsafe(12)
        self.redis_port = _free_port(network.gateway)
        (tmp / "redis").mkdir(exist_ok=True)
        with open(tmp / "redis" / "redis.log", "ab") as log:
            self.redis = subprocess.Popen(
                [
                    redis_binary(),
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    network.gateway,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(tmp / "redis"),
                    "--requirepass",
                    password,
                    "--protected-mode",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        self._cleanups.append(self._stop_redis)
        self.redis_url = f"redis://:{password}@{network.gateway}:{self.redis_port}/0"
        _wait_port(network.gateway, self.redis_port)
        host_db = f"{self.database_url.rsplit('@', 1)[0]}@{network.gateway}:{self.forwarder.port}"
        host_db += "/" + self.database_url.rsplit("/", 1)[1]
        self.env = {
            **os.environ,
            **FAST_SETTINGS,
            "PUSHWORKER_STALE_AFTER": "120",  # queued events wait long here; no sweep republish
            "DJANGO_SETTINGS_MODULE": "pushworker.settings",
            "PUSHWORKER_DATABASE_URL": self.database_url,
            "PUSHWORKER_BROKER_URL": self.redis_url,
            "PUSHWORKER_HOME": str(tmp / "web"),
            "PUSHWORKER_SECRET_KEY": secrets.token_urlsafe(50),
            "MIPUSH_ANDROID_APP_SECRET": android_secret,
            "MIPUSH_ANDROID_PACKAGE_NAME": ANDROID_PACKAGE,
            "MIPUSH_IOS_APP_SECRET": ios_secret,
            "MIPUSH_IOS_BUNDLE_ID": IOS_BUNDLE,
            "MIPUSH_PRODUCTION_URL": self.emulator.production_url,
            "MIPUSH_SANDBOX_URL": self.emulator.sandbox_url,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        self.host_env = {**self.env, "PUSHWORKER_DATABASE_URL": host_db}
        os.environ.update(self.env)  # this process plays the web side
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import pushworker.celery  # noqa: F401 - the standalone app publishes for the web side

    def start_hosts(
        self,
        count: int,
        *,
        concurrency: int = 1,
        beat: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> list[Host]:
        """Start ``count`` hosts at once and wait until every one is ready."""
        first = len(self.hosts)
        started = [
            Host(
                self.network,
                first + i,
                {**self.host_env, **(env or {})},
                self.tmp / f"host{first + i}",
                concurrency=concurrency,
                beat=beat,
            )
            for i in range(count)
        ]
        self.hosts += started
        wait_for(lambda: all(h.ready() for h in started), timeout, "worker hosts ready")
        return started

    def stop_hosts(self) -> None:
        for host in self.hosts:
            host.kill()
        self.hosts.clear()

    def reset(self) -> None:
        import redis

        from pushworker.store.models import Delivery, PushDevice

        self.stop_hosts()
        Delivery.objects.all().delete()
        PushDevice.objects.all().delete()
        redis.Redis.from_url(self.redis_url).flushall()
        self.emulator.reset()
        self.emulator.set_faults(None)

    def _stop_redis(self) -> None:
        self.redis.terminate()
        try:
            self.redis.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.redis.kill()

    def close(self) -> None:
        self.stop_hosts()
        from django.db import connections

        with contextlib.suppress(Exception):  # Django may never have been set up
            connections.close_all()
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                cleanup()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _wait_port(host: str, port: int, timeout: float = 10) -> None:
    wait_for(lambda: _connects(host, port), timeout, f"{host}:{port} listening")


def _connects(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def wait_for(condition, timeout: float, message: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
