"""The whole pipeline for integration and fault tests: database, Redis, emulator, Django, workers.

Everything is real: a redis-server on a free port, the emulator over HTTP, real ``celery worker``
subprocesses, and PostgreSQL when ``PUSHWORKER_TEST_DATABASE_URL`` names a server.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from pushworker.demo.settings import ANDROID_PACKAGE, FAST_SETTINGS, IOS_BUNDLE
from tests.support import database
from tests.support.processes import Worker
from tests.support.redis_server import RedisServer


class Stack:
    def __init__(self, tmp: Path) -> None:
        from pushworker.emulator import Emulator, EmulatorApp

        self.tmp = tmp
        self.database_url, self._drop_database = database.create(tmp)
        self.android_secret = secrets.token_urlsafe(18)
        self.ios_secret = secrets.token_urlsafe(18)
        self.emulator = Emulator(
            apps=[
                EmulatorApp(
                    secret=self.android_secret, package=ANDROID_PACKAGE, platform="android"
                ),
                EmulatorApp(secret=self.ios_secret, package=IOS_BUNDLE, platform="ios"),
            ]
        ).start()
        self.redis_password = secrets.token_urlsafe(12)
        self.redis = RedisServer(tmp / "redis", password=self.redis_password).start()
        self.env = {
            **os.environ,
            **FAST_SETTINGS,
            "DJANGO_SETTINGS_MODULE": "pushworker.settings",
            "PUSHWORKER_DATABASE_URL": self.database_url,
            "PUSHWORKER_BROKER_URL": self.redis.url,
            "PUSHWORKER_HOME": str(tmp),
            "PUSHWORKER_SECRET_KEY": secrets.token_urlsafe(50),
            "MIPUSH_ANDROID_APP_SECRET": self.android_secret,
            "MIPUSH_ANDROID_PACKAGE_NAME": ANDROID_PACKAGE,
            "MIPUSH_IOS_APP_SECRET": self.ios_secret,
            "MIPUSH_IOS_BUNDLE_ID": IOS_BUNDLE,
            "MIPUSH_PRODUCTION_URL": self.emulator.production_url,
            "MIPUSH_SANDBOX_URL": self.emulator.sandbox_url,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH")])
            ),
        }
        os.environ.update(self.env)  # this process plays the web side
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import pushworker.celery  # noqa: F401 - the standalone app publishes for the web side

        self.workers: list[Worker] = []

    def worker(self, name: str = "w1", *, env: dict[str, str] | None = None, **kwargs) -> Worker:
        worker = Worker({**self.env, **(env or {})}, self.tmp / "workers", name=name, **kwargs)
        self.workers.append(worker)
        return worker.start()

    def reset(self) -> None:
        """Between tests: no workers, empty tables, empty queues, a clean emulator."""
        for worker in self.workers:
            worker.terminate(timeout=20)
        self.workers.clear()
        if self.redis.process and self.redis.process.poll() is None:
            import redis

            redis.Redis.from_url(self.redis.url).flushall()
        else:
            self.redis.start()
        self.clear()

    def clear(self) -> None:
        """Empty tables, a clean emulator and a closed breaker; workers and Redis are kept."""
        from pushworker.producer import enqueue
        from pushworker.store.models import DeadLetter, Delivery, PushDevice, Recipient

        DeadLetter.objects.all().delete()
        Delivery.objects.all().delete()
        PushDevice.objects.all().delete()
        Recipient.objects.all().delete()  # and their preferences
        self.emulator.reset()
        self.emulator.set_known_targets(None)
        self.emulator.set_faults(None)
        enqueue.breaker.close()

    def shared_worker(self) -> Worker:
        """The default worker, started once and reused by every test that needs nothing else.

        A test that needs its own workers (``clean_stack``) stops it; the next user starts it again.
        """
        alive = [
            w for w in self.workers if w.name == "shared" and w.process and w.process.poll() is None
        ]
        if alive and len(self.workers) == 1:
            self.clear()
            return alive[0]
        self.reset()
        return self.worker("shared")

    def settled(self) -> bool:
        """Every delivery has ended (beat's own relay and sweep messages come and go meanwhile)."""
        from pushworker.store.models import TERMINAL_STATUSES, Delivery

        return not Delivery.objects.exclude(status__in=TERMINAL_STATUSES).exists()

    def secrets(self) -> tuple[str, ...]:
        """Every secret this stack handed out: none may appear in a log, an argument or a page."""
        return (self.android_secret, self.ios_secret, self.redis_password)

    def close(self) -> None:
        self.reset()
        from django.db import connections

        connections.close_all()
        self.redis.stop()
        self.emulator.stop()
        self._drop_database()


def wait_for(
    condition: Callable[[], object],
    timeout: float,
    interval: float = 0.1,
    message: str = "condition",
) -> object:
    """Poll until ``condition()`` is truthy; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
