"""The shared rate limit and the beat lock behind Redis Sentinel (pushworker.broker.connection).

A real master, replica and three sentinels (tests/support/sentinel.py); the limiter and the lock
reach them only through the Celery app's ``sentinel://`` broker settings, as a worker does. The
failover itself is tests/faults/test_sentinel_limit.py.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
import redis
from celery import Celery

from pushworker import conf
from pushworker.broker import connection as brokerredis
from pushworker.broker import install as integration
from pushworker.broker.beatlock import KEY, LockedScheduler
from pushworker.delivery import ratelimit
from pushworker.delivery.ratelimit import Deferred, RedisLimiter
from tests.support.sentinel import MASTER_NAME, SentinelCluster

RATE = 10  # requests/s: small, so a few seconds show the limit


def sentinel_app(cluster: SentinelCluster) -> Celery:
    """A Celery app configured as the standalone service is for this cluster's sentinel:// URL."""
    # Imported here, not at collection: the standalone configuration reads the environment once,
    # when first imported, and a suite's stack sets its broker URL only when it starts.
    from pushworker.broker import celeryconfig

    env = {"PUSHWORKER_BROKER_URL": cluster.url, "PUSHWORKER_BROKER_MASTER_NAME": MASTER_NAME}
    url, transport, options = celeryconfig.broker_settings(env)
    app = Celery("sentinel-test", set_as_current=False)
    app.conf.update(broker_url=url, broker_transport=transport, broker_transport_options=options)
    return app


def most_in_one_second(acquire: Callable[[], float], clock: redis.Redis, admits: int) -> int:
    """Ask ``acquire`` until it admitted ``admits`` requests, coming back when it says; answer the
    most admitted within one second of Redis's clock (the limit's own clock)."""
    stamps: list[float] = []
    while len(stamps) < admits:
        try:
            acquire()
        except Deferred as over:
            time.sleep(over.wait)  # the wait the limiter answered: how a worker comes back
            continue
        seconds, micros = clock.time()
        stamps.append(seconds + micros / 1e6)
    return max(sum(1 for s in stamps if t <= s < t + 1) for t in stamps)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelCluster]:
    started = SentinelCluster(tmp_path_factory.mktemp("sentinel"), secrets.token_urlsafe(12))
    try:
        yield started.start()
    finally:
        started.stop()


def test_the_worker_limiter_shares_its_limit_through_the_sentinels_master(
    cluster: SentinelCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUSHWORKER_RATE_LIMIT", f"default={RATE},max_wait=0")
    before = brokerredis.followed()
    app = integration.install(sentinel_app(cluster))  # follows the app's broker, as a worker's
    ratelimit.use(None)
    try:
        limiter = ratelimit.limiter()
        assert isinstance(limiter, RedisLimiter), "no shared limit with a sentinel:// broker"
        master = cluster.server(cluster.master_port)
        send = partial(ratelimit.acquire, "qqc", "android")  # the worker's hook before a request
        assert most_in_one_second(send, master, 25) <= RATE + 1
        assert master.exists(RedisLimiter.keys("qqc", "android")[0])  # on the master it named
        assert app.conf.broker_transport_options["master_name"] == MASTER_NAME
    finally:
        ratelimit.use(ratelimit.Unlimited())
        brokerredis.follow(before)


def test_one_of_two_schedulers_holds_the_lock(cluster: SentinelCluster, tmp_path: Path) -> None:
    app = sentinel_app(cluster)
    app.conf.beat_schedule = {}
    schedulers = [
        LockedScheduler(app=app, schedule_filename=str(tmp_path / host / "schedule"))
        for host in ("host-a", "host-b")
    ]
    try:
        for scheduler in schedulers:
            scheduler.tick()
        holders = [s for s in schedulers if s.lock and s.lock.held]
        assert len(holders) == 1, [s.lock and s.lock.held for s in schedulers]
        master = cluster.server(cluster.master_port)
        assert master.get(KEY) == holders[0].lock.token.encode()
        # The holder stops: its lock goes with it and the other takes over on its next tick.
        holders[0].close()
        schedulers.remove(holders[0])
        schedulers[0].tick()
        assert schedulers[0].lock and schedulers[0].lock.held
    finally:
        for scheduler in schedulers:
            scheduler.close()


def test_the_client_asks_the_sentinels_as_the_broker_does() -> None:
    """No server needed: the sentinels get the broker's password and timeouts, the master the
    URL's password and database and the limiter's own short timeouts."""
    options = integration.transport_options(
        conf.load({}), {"master_name": "pw", "sentinel_kwargs": {"password": "s3cret"}}
    )
    client = brokerredis.connect(
        "sentinel://:m4ster@10.0.0.1:26380/3;sentinel://:m4ster@10.0.0.2", options
    )
    assert client is not None
    pool = client.connection_pool
    assert pool.service_name == "pw"
    assert pool.connection_kwargs["password"] == "m4ster" and pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["socket_timeout"] == 0.5
    sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"]) for s in sentinels] == [("10.0.0.1", 26380), ("10.0.0.2", 26379)]
    kwargs = sentinels[0]
    assert kwargs["password"] == "s3cret"
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (
        options["socket_connect_timeout"],
        options["socket_timeout"],
    )
    # Without master_name there is nothing to ask the sentinels for: no shared limit, logged.
    assert brokerredis.connect("sentinel://10.0.0.1:26379") is None
