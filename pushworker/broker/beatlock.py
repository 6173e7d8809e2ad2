"""Beat on several hosts, sending once: a scheduler that sends only while it holds a Redis lock.

Every worker host may run the embedded beat (``celery worker -B``), so losing a host never stops
the outbox relay and the stuck-delivery sweep. Only the beat holding ``pushworker:beat:lock`` sends;
the others stand by, try again every few seconds and take over within ``LOCK_SECONDS`` once the
holder dies. The holder renews the lock on each tick. A beat that cannot reach Redis sends nothing
(its broker is that Redis, so it could not send anyway). Should two beats ever overlap (a holder
paused past its lock), the maintenance tasks are harmless twice: a delivery is claimed by one run.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path
from typing import Any

import redis
from celery.beat import PersistentScheduler

from pushworker.broker import connection as brokerredis

log = logging.getLogger("pushworker.beat")

KEY = "pushworker:beat:lock"
LOCK_SECONDS = 15.0

# Take the lock if free, or renew it if it is ours; answer whether we hold it now.
_HOLD = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
"""


class BeatLock:
    """The one lock all beats compete for; ``hold()`` takes or renews it."""

    def __init__(self, client: redis.Redis, seconds: float = LOCK_SECONDS) -> None:
        self.client = client
        self.seconds = seconds
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._hold = client.register_script(_HOLD)
        self.held: bool | None = None  # unknown until the first tick: that one is logged

    def hold(self) -> bool:
        try:
            held = bool(self._hold(keys=[KEY], args=[self.token, int(self.seconds * 1000)]))
        except (redis.RedisError, OSError):
            held = False
        if held != self.held:
            log.warning("beat %s", "is the sender" if held else "stands by (another beat sends)")
        self.held = held
        return held

    def release(self) -> None:
        # Only our own lock; a successor's must survive our shutdown.
        if not self.held:
            return
        try:
            if self.client.get(KEY) == self.token.encode():
                self.client.delete(KEY)
        except (redis.RedisError, OSError):
            pass


class LockedScheduler(PersistentScheduler):
    """Celery's file scheduler that sends due tasks only while holding :class:`BeatLock`.

    It also creates the schedule file's folder first, so beat starts anywhere.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The broker's Redis (behind Sentinel, its current master). None for a broker that is not
        # Redis: then run exactly one beat.
        client = brokerredis.for_app(self.app)
        self.lock = BeatLock(client) if client is not None else None
        if self.lock:
            # Tick (renew, or try to take over) well within the lock's lifetime.
            self.max_interval = min(self.max_interval, self.lock.seconds / 3)

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.lock and not self.lock.hold():
            return self.max_interval
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        if self.lock:
            self.lock.release()
        super().close()
