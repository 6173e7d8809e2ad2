"""Fixtures of the Django/Celery unit tests: a clean configuration per test, the real emulator."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from pushworker import conf
from tests.support.redis_server import RedisServer
from tests.unit.environment import emulator_env


def _clear_caches() -> None:
    from pushworker.delivery import nicknames, outage, ratelimit, sender
    from pushworker.producer import backlog, enqueue

    # The shared rate limit needs a Redis; tests/unit/test_ratelimit.py starts its own.
    ratelimit.use(ratelimit.Unlimited())
    # So does the backlog question of delay(): one message per event unless a test gives a Redis.
    backlog.use(backlog.OFF)

    conf.get.cache_clear()
    sender._client.cache_clear()
    outage.use(None)  # the rate limiter's Redis, which a test gives or not
    outage._breaker.cache_clear()
    nicknames.load.cache_clear()
    # A test's background publishes settle, and their threads are free, before the breaker is
    # reset: a late one must not trip it for the next test, nor hold up its publishes.
    enqueue.flush(5)
    _threads_free(enqueue._publisher, 5)
    enqueue.breaker.close()
    enqueue._short_until = 0.0


def _threads_free(publisher, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while publisher.held and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings, clients and the breaker are process-wide; no test may see another's."""
    _clear_caches()
    yield
    _clear_caches()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``configure(**env)``: replace every pushworker variable by ``env``; reloaded on use."""

    def apply(**env: str) -> None:
        for key in list(os.environ):
            if key.startswith(("MIPUSH_", "PUSHWORKER_")):
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _clear_caches()

    return apply


@pytest.fixture
def emulator(fresh_emulator, configure):
    """The real emulator (tests/support/emulator.py), with pushworker configured to send to it."""
    configure(**emulator_env(fresh_emulator))
    return fresh_emulator


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this test module's own, on a free port (never the shared one)."""
    started = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield started
    started.stop()
