"""The shared rate limit through a Redis Sentinel failover (issue #12): SIGKILL the master.

A master, a replica and three sentinels (tests/support/sentinel.py); the limiter reaches them only
through a Celery app's ``sentinel://`` broker settings (pushworker.broker.connection). While the
master is
gone the limiter fails open, as documented; once the sentinels have promoted the replica it limits
again, on the new master, without being rebuilt. The time until it limits again is printed.
"""

from __future__ import annotations

import secrets
import time
from functools import partial

import pytest

from pushworker.broker import connection as brokerredis
from pushworker.delivery.ratelimit import Deferred, RateLimits, RedisLimiter
from tests.support.sentinel import SentinelCluster
from tests.support.stack import wait_for
from tests.unit.test_ratelimit_sentinel import RATE, most_in_one_second, sentinel_app

pytestmark = pytest.mark.slow


def test_the_limit_follows_the_new_master_after_a_failover(tmp_path) -> None:
    cluster = SentinelCluster(tmp_path / "sentinel", secrets.token_urlsafe(12))
    try:
        cluster.start()
        client = brokerredis.for_app(sentinel_app(cluster))
        assert client is not None
        limiter = RedisLimiter(client, RateLimits(default=RATE, max_wait=0))
        send = partial(limiter.acquire, "qqc", "android")
        assert most_in_one_second(send, client, 15) <= RATE + 1

        cluster.kill_master()
        killed_at = time.monotonic()
        assert send() == 0  # the master is gone: fail open, no exception

        def limiting() -> bool:
            try:
                send()
            except Deferred:
                return True
            return False

        wait_for(limiting, 60, interval=0.05, message="the limiter to limit again")
        recovered_s = time.monotonic() - killed_at
        assert cluster.master_port_now() == cluster.replica_port
        new_master = cluster.server(cluster.replica_port)
        assert most_in_one_second(send, new_master, 25) <= RATE + 1
        assert new_master.exists(RedisLimiter.keys("qqc", "android")[0])
    finally:
        cluster.stop()
    print(f"\nsentinel failover: the shared limit held again {recovered_s:.2f} s after the kill")
