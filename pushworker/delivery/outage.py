"""One circuit breaker per platform and Xiaomi host, shared by every worker through Redis.

While Xiaomi is down, every request fails transiently. Without a breaker each event would spend
its own attempts on it, and a backlog would hammer a host that cannot answer. So after
``OUTAGE_FAILURES`` requests to a platform and host have failed transiently in a row, the breaker
opens: no request goes there, and events wait as rows (no retry spent) until the next probe. Once
the open period is over, one request at a time is the probe, taken by whichever worker asks first;
a probe that fails opens the breaker again for twice as long (up to ``OUTAGE_PROBE_LONGEST``),
one that succeeds closes it, and the rows that waited for it are due at once.

Throttling (10027) is the rate limiter's business and a used-up quota the kind's, so neither counts
here. The state lives in the broker's Redis with the rate limit; when Redis cannot answer, the
breaker stays closed (requests go ahead), as the limiter fails open.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache

import redis

from pushworker.conf.types import OutagePolicy
from pushworker.delivery import ratelimit

log = logging.getLogger("pushworker.outage")

CATEGORY = "outage"  # what a row waiting for a probe records as its reason
_PREFIX = "pushworker:outage"
_DAY_MS = 24 * 3600 * 1000

# KEYS[1]: the breaker's hash (open_until ms, backoff ms, failures); KEYS[2]: the probe lock.
# ARGV[1]: how long a probe may take (ms). Answers {0, 0} closed, {1, wait ms} open, {2, 0} probe.
_ASK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until == 0 then return {0, tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')} end
if now < open_until then return {1, open_until - now} end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return {2, 0} end
return {1, math.max(redis.call('PTTL', KEYS[2]), 1)}
"""

# ARGV: failures that open it, first open period (ms), longest (ms), "1" when this was the probe.
# Answers the open period it set (ms), 0 while it stays closed.
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if ARGV[4] ~= '1' and (open_until > 0 or failures < tonumber(ARGV[1])) then return 0 end
local backoff = tonumber(redis.call('HGET', KEYS[1], 'backoff') or '0')
if backoff == 0 then backoff = tonumber(ARGV[2])
else backoff = math.min(tonumber(ARGV[3]), backoff * 2) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'open_until', now + backoff, 'backoff', backoff)
redis.call('DEL', KEYS[2])
return backoff
"""

# A success closes the breaker; answers 1 when it ended an outage (the waiting rows are due).
_SUCCEEDED = """
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
redis.call('DEL', KEYS[1], KEYS[2])
if open_until > 0 then return 1 end
return 0
"""


class Outage(ratelimit.Later):
    """The host is down: the events wait for its next probe."""

    category = CATEGORY

    def __str__(self) -> str:
        return f"Xiaomi is down for this platform and host: the next probe in {self.wait:.1f} s"


@dataclass(frozen=True)
class Ticket:
    """The answer before one request: go ahead (``probe`` when it is the one probe)."""

    platform: str
    environment: str
    probe: bool = False
    failures: int = 0  # failures in a row so far (0: nothing to report on success)


class Breaker:
    """The breakers of every platform and host, in the broker's Redis."""

    def __init__(self, client: redis.Redis | None, knobs: OutagePolicy) -> None:
        self.client, self.knobs = client, knobs
        self._warned_at = float("-inf")
        if client is not None:
            self._ask = client.register_script(_ASK)
            self._failed = client.register_script(_FAILED)
            self._succeeded = client.register_script(_SUCCEEDED)

    @staticmethod
    def keys(platform: str, environment: str) -> list[str]:
        tag = f"{_PREFIX}:{{{platform}.{environment}}}"  # one hash slot on a cluster
        return [f"{tag}:state", f"{tag}:probe"]

    def ask(self, platform: str, environment: str) -> Ticket:
        """Before a request: a ticket to send it, or :class:`Outage` (wait for the probe)."""
        if self.client is None:
            return Ticket(platform, environment)
        try:
            state, value = self._ask(
                keys=self.keys(platform, environment), args=[int(self.knobs.probe_seconds * 1000)]
            )
        except (redis.RedisError, OSError) as error:
            self._fail_open(error)
            return Ticket(platform, environment)
        if int(state) == 1:
            raise Outage(int(value) / 1000)
        return Ticket(platform, environment, probe=int(state) == 2, failures=int(value))

    def failed(self, ticket: Ticket) -> float:
        """The request failed transiently; answers the open period it started (0: still closed)."""
        if self.client is None:
            return 0.0
        knobs = self.knobs
        args = [knobs.failures, int(knobs.first_seconds * 1000), int(knobs.longest_seconds * 1000)]
        args += ["1" if ticket.probe else "0", _DAY_MS]
        try:
            keys = self.keys(ticket.platform, ticket.environment)
            opened = int(self._failed(keys=keys, args=args))
        except (redis.RedisError, OSError) as error:
            self._fail_open(error)
            return 0.0
        if opened:
            log.warning(
                "xiaomi looks down: requests wait for a probe",
                extra={
                    "platform": ticket.platform,
                    "environment": ticket.environment,
                    "probe_in": opened / 1000,
                    "probe_failed": ticket.probe,
                },
            )
        return opened / 1000

    def succeeded(self, ticket: Ticket) -> bool:
        """The request was answered; True when that ended an outage (its waiting rows are due)."""
        if self.client is None or not (ticket.probe or ticket.failures):
            return False  # nothing to close: a healthy host costs no second round trip
        try:
            keys = self.keys(ticket.platform, ticket.environment)
            ended = bool(int(self._succeeded(keys=keys)))
        except (redis.RedisError, OSError) as error:
            self._fail_open(error)
            return False
        if ended:
            extra = {"platform": ticket.platform, "environment": ticket.environment}
            log.warning("xiaomi answers again: the waiting events go out", extra=extra)
        return ended

    def _fail_open(self, error: BaseException) -> None:
        if time.monotonic() - self._warned_at > 10:  # once every 10 s per process
            self._warned_at = time.monotonic()
            extra = {"error": type(error).__name__}
            log.warning("outage breaker unreachable: requests go ahead", extra=extra)


_override: Breaker | None = None


def use(breaker: Breaker | None) -> None:
    """Replace the process's breaker (tests); ``None`` returns to the broker's Redis."""
    global _override
    _override = breaker


def breaker(knobs: OutagePolicy) -> Breaker:
    """The process's breakers, in the rate limiter's Redis (the broker's, per process)."""
    if _override is not None:
        return _override
    return _breaker(getattr(ratelimit.limiter(), "client", None), knobs)


@lru_cache(maxsize=4)
def _breaker(client: redis.Redis | None, knobs: OutagePolicy) -> Breaker:
    return Breaker(client, knobs)
