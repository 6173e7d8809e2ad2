"""One rate limit toward Xiaomi per app and platform, shared by all workers on all hosts via Redis.

Xiaomi counts requests per app (500 to 3,000 a second, not raisable) and answers 10027 beyond.
Celery's ``rate_limit`` is per worker, so this limiter keeps one schedule in Redis instead: a GCRA
("virtual scheduling") script reserves the next free send slot of the app and platform atomically
and answers how long to wait for it. A worker that would wait longer than ``max_wait`` reserves
nothing and is told to come back later (:class:`Deferred`): one Redis call per request, no polling.

A 10027 answer halves the rate for ``backoff`` seconds (again on each further 10027, to ``floor``);
the lowered rate is a Redis key, so every host slows down at once. The clock is Redis's ``TIME``,
so hosts with skewed clocks still share one schedule.

The Redis is the broker's, found from the Celery app's broker settings
(``pushworker.broker.connection``); behind Redis Sentinel, the master the sentinels name, followed
across a failover.
When Redis cannot be reached the limiter fails OPEN: the send goes ahead unthrottled and a warning
is logged. The limiter lives in the broker's Redis, so a worker that cannot reach it cannot fetch
new messages either; only the runs already in hand pass, and a 10027 they might cause is still a
throttled retry. Failing closed would turn a broker blip into a stall of every send in progress.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from typing import Any, Protocol

import redis

from pushworker.broker import connection as brokerredis
from pushworker.broker.connection import connect as connect  # the client, also for the beat lock
from pushworker.conf.ratelimit import RateLimits, parse, settings

__all__ = ["Deferred", "RateLimits", "RedisLimiter", "parse", "settings"]

log = logging.getLogger("pushworker.ratelimit")

THROTTLED_CODE = 10027  # Xiaomi: "Request too frequently"
_PREFIX = "pushworker:ratelimit"

# KEYS[1]: the theoretical arrival time (µs, Redis clock) of the next free slot.
# KEYS[2]: the lowered rate after a 10027, while it lasts.
# ARGV[1]: the configured rate (requests/s); ARGV[2]: the longest wait to reserve a slot for (µs).
# Answers {reserved (1/0), wait in µs, rate in force}. A slot is reserved only when its wait is
# short enough, so a refused caller leaves no trace and an idle limiter never saves up a burst.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local lowered = tonumber(redis.call('GET', KEYS[2]) or '0')
if lowered > 0 and lowered < rate then rate = lowered end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return {0, wait, tostring(rate)} end
local next_tat = math.floor(tat + 1000000 / rate)
redis.call('SET', KEYS[1], next_tat, 'PX', math.floor((next_tat - now) / 1000) + 1000)
return {1, wait, tostring(rate)}
"""

# KEYS[1]: the lowered rate. ARGV: configured rate, backoff (ms), floor (requests/s).
# The answers to requests already in flight at a halving are 10027 too: within a second of the
# last halving a further 10027 only extends it, so one burst does not drive the rate to the floor.
_LOWER = """
local ttl = redis.call('PTTL', KEYS[1])
local backoff = tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if ttl > backoff - 1000 then return tostring(current) end
local lowered = math.max(tonumber(ARGV[3]), current / 2)
redis.call('SET', KEYS[1], tostring(lowered), 'PX', backoff)
return tostring(lowered)
"""


class Later(Exception):
    """A request that must not be made now: its events wait ``wait`` seconds as rows, spending no
    retry. ``category`` is what their rows record as the reason."""

    category = "later"

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class Deferred(Later):
    """Over the shared limit for longer than ``max_wait``: run again in ``wait`` seconds."""

    category = "rate_limited"

    def __init__(self, wait: float, rate: float) -> None:
        Exception.__init__(self, wait, rate)  # rebuilt from .args when pickled
        self.wait, self.rate = wait, rate

    def __str__(self) -> str:
        return f"over the shared rate limit of {self.rate:g} requests/s for {self.wait:.2f} s"


class Limiter(Protocol):
    def acquire(self, app: str, platform: str) -> float: ...
    def throttled(self, app: str, platform: str) -> float: ...


class RedisLimiter:
    """The shared limiter; ``acquire`` before each request, ``throttled`` after each 10027."""

    def __init__(self, client: redis.Redis, limits: RateLimits) -> None:
        self.client = client
        self.limits = limits
        self._acquire = client.register_script(_ACQUIRE)
        self._lower = client.register_script(_LOWER)
        self._warned_at = float("-inf")

    @staticmethod
    def keys(app: str, platform: str) -> tuple[str, str]:
        # One hash tag per app and platform: both keys land on one node of a cluster.
        tag = f"{_PREFIX}:{{{app}.{platform}}}"
        return f"{tag}:next", f"{tag}:lowered"

    def acquire(self, app: str, platform: str) -> float:
        """Wait for this request's slot and answer the seconds waited; raise :class:`Deferred`."""
        try:
            reserved, wait_us, rate = self._acquire(
                keys=self.keys(app, platform),
                args=[self.limits.rate(app, platform), int(self.limits.max_wait * 1e6)],
            )
        except (redis.RedisError, OSError) as error:
            self._fail_open(error)
            return 0.0
        wait = int(wait_us) / 1e6
        if not int(reserved):
            raise Deferred(wait, float(rate))
        if wait > 0:
            time.sleep(wait)  # bounded by max_wait; the slot is ours, nobody else takes it
        return wait

    def throttled(self, app: str, platform: str) -> float:
        """Xiaomi answered 10027: halve the app's rate for a while; answer the rate now in force."""
        configured = self.limits.rate(app, platform)
        try:
            lowered = float(
                self._lower(
                    keys=self.keys(app, platform)[1:],
                    args=[configured, int(self.limits.backoff * 1000), self.limits.floor],
                )
            )
        except (redis.RedisError, OSError) as error:
            self._fail_open(error)
            return configured
        log.warning(
            "xiaomi throttled: lowering the shared rate",
            extra={"app": app, "platform": platform, "rate": lowered, "for": self.limits.backoff},
        )
        return lowered

    def current(self, app: str, platform: str) -> float:
        """The rate in force now (the configured one unless a 10027 lowered it)."""
        lowered = self.client.get(self.keys(app, platform)[1])
        configured = self.limits.rate(app, platform)
        return min(configured, float(lowered)) if lowered else configured

    def _fail_open(self, error: BaseException) -> None:
        # Once every 10 s per process: a Redis outage must not flood the log with one line a send.
        if time.monotonic() - self._warned_at > 10:
            self._warned_at = time.monotonic()
            log.warning(
                "rate limiter unreachable: sending unthrottled",
                extra={"error": type(error).__name__},
            )


class Unlimited:
    """No shared limit: for unit tests of the code above, which must not touch a real Redis."""

    def acquire(self, app: str, platform: str) -> float:
        return 0.0

    def throttled(self, app: str, platform: str) -> float:
        return 0.0


# The Celery app whose broker holds the shared limit (set by ``pushworker.broker.install.install``).
@lru_cache(maxsize=4)
def _process_limiter(pid: int, app: Any) -> Limiter:
    # Per process (the pid is in the key): a prefork child must not share its parent's socket.
    client = brokerredis.for_app(app) if app is not None else brokerredis.connect(None)
    return RedisLimiter(client, settings()) if client is not None else Unlimited()


_override: Limiter | None = None


def use(limiter: Limiter | None) -> None:
    """Replace the process's limiter (tests); ``None`` returns to the shared Redis one."""
    global _override
    _override = limiter


def limiter() -> Limiter:
    return _override or _process_limiter(os.getpid(), brokerredis.followed())


def acquire(app: str, platform: str) -> float:
    """The hook before each Xiaomi request: wait for the slot, or raise :class:`Deferred`."""
    return limiter().acquire(app, platform)


def feedback(app: str, platform: str, code: int | None) -> None:
    """The hook after each refused request: a 10027 lowers the shared rate."""
    if code == THROTTLED_CODE:
        limiter().throttled(app, platform)
