"""The shared Xiaomi rate limit against a real redis-server of its own (delivery.ratelimit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from django.utils import timezone

from pushworker.delivery import ratelimit
from pushworker.delivery.ratelimit import Deferred, RateLimits, RedisLimiter
from tests.support.redis_server import RedisServer, free_port


@pytest.fixture
def client(private_redis: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(private_redis.url)
    connection.flushall()
    yield connection
    connection.close()


def redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1e6


def test_settings_parse_per_app_and_platform() -> None:
    limits = ratelimit.parse("default=500, qqc=1000, qqc.ios=3000, max_wait=0.5, backoff=30")
    assert limits.rate("qqc", "ios") == 3000
    assert limits.rate("qqc", "android") == 1000
    assert limits.rate("other", "android") == 500
    assert (limits.max_wait, limits.backoff) == (0.5, 30)
    assert ratelimit.parse("20").default == 20
    assert ratelimit.parse(None) == RateLimits()
    assert ratelimit.parse({"default": 50, "qqc.android": 5}).rate("qqc", "android") == 5


def test_settings_name_their_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHWORKER_RATE_LIMIT", "qqc=lots")
    with pytest.raises(ValueError, match=r"PUSHWORKER_RATE_LIMIT: RATE_LIMITS\['qqc'\]"):
        ratelimit.settings()
    monkeypatch.setenv("PUSHWORKER_RATE_LIMIT", "default=20,qqc.ios=5")
    assert ratelimit.settings().rate("qqc", "ios") == 5


def test_every_redis_broker_url_is_followed_and_others_mean_no_shared_limit() -> None:
    assert ratelimit.connect("amqp://guest@localhost//") is None
    assert ratelimit.connect(None) is None
    # Sentinel needs the broker's master_name (tests/unit/test_ratelimit_sentinel.py).
    assert ratelimit.connect("sentinel://h1:26379;sentinel://h2:26379") is None
    assert ratelimit.connect("sentinel://h1:26379", {"master_name": "pw"}) is not None
    assert ratelimit.connect("redis://127.0.0.1:1/0") is not None
    socket = ratelimit.connect("redis+socket:///run/redis.sock?virtual_host=2")
    assert socket is not None
    assert socket.connection_pool.connection_kwargs["path"] == "/run/redis.sock"
    assert socket.connection_pool.connection_kwargs["db"] == 2
    # The form the socket transport is configured with (pushworker.broker.transport.broker_for).
    rewritten = ratelimit.connect("socket:///run/redis.sock?virtual_host=2")
    assert rewritten is not None and rewritten.connection_pool.connection_kwargs["db"] == 2


@pytest.mark.parametrize("spec", ["qqc=fast", "default=0", "qqc.ios=-1", "default=inf"])
def test_settings_refuse_bad_numbers_naming_the_key(spec: str) -> None:
    with pytest.raises(ValueError, match=spec.split("=")[0].replace(".", r"\.")):
        ratelimit.parse(spec)


def test_slots_are_spaced_by_the_rate_across_limiters(client: redis.Redis) -> None:
    """Two limiters (two hosts) share one schedule: 40 requests at 20/s take 39 intervals."""
    limits = RateLimits(default=20, max_wait=5)
    hosts = [RedisLimiter(client, limits), RedisLimiter(client, limits)]
    stamps: list[float] = []

    def send(limiter: RedisLimiter) -> None:
        for _ in range(20):
            limiter.acquire("qqc", "android")
            stamps.append(redis_now(client))

    threads = [threading.Thread(target=send, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    # Measured on Redis's clock: no 1 s window holds more than the limit plus the one slot at its
    # edge, and the whole run cannot be shorter than its 39 reserved intervals.
    assert stamps[-1] - stamps[0] >= 39 / 20 - 0.05
    assert max(sum(1 for s in stamps if t <= s < t + 1) for t in stamps) <= 21


def test_over_the_wait_bound_defers_without_reserving(client: redis.Redis) -> None:
    limiter = RedisLimiter(client, RateLimits(default=2, max_wait=0))
    assert limiter.acquire("qqc", "ios") == 0
    with pytest.raises(Deferred) as over:
        limiter.acquire("qqc", "ios")
    assert 0 < over.value.wait <= 0.5 and over.value.rate == 2
    # The refused call reserved nothing: after the wait it gets the next slot at once.
    time.sleep(over.value.wait)
    assert limiter.acquire("qqc", "ios") == pytest.approx(0, abs=0.05)
    # Apps and platforms are separate schedules.
    assert limiter.acquire("qqc", "android") == 0
    assert limiter.acquire("other", "ios") == 0


def test_throttled_halves_the_rate_for_every_host_for_a_while(client: redis.Redis) -> None:
    limits = RateLimits(default=100, backoff=1.5, floor=10)
    one, other = RedisLimiter(client, limits), RedisLimiter(client, limits)
    assert one.throttled("qqc", "android") == 50
    assert other.current("qqc", "android") == 50
    # Answers to requests in flight at the halving do not halve again within a second.
    assert other.throttled("qqc", "android") == 50
    assert one.current("qqc", "ios") == 100
    # The second 10027 well after the first: halved again; the lowered rate paces new slots.
    client.pexpire(RedisLimiter.keys("qqc", "android")[1], 400)
    assert other.throttled("qqc", "android") == 25
    client.delete(RedisLimiter.keys("qqc", "android")[0])
    one.acquire("qqc", "android")
    with pytest.raises(Deferred) as over:
        RedisLimiter(client, RateLimits(default=100, max_wait=0)).acquire("qqc", "android")
    assert over.value.rate == 25
    # ...and ends by itself.
    deadline = time.monotonic() + 10
    while one.current("qqc", "android") != 100:
        assert time.monotonic() < deadline, "the lowered rate never expired"
        time.sleep(0.1)


def test_floor_bounds_the_halving(client: redis.Redis) -> None:
    limiter = RedisLimiter(client, RateLimits(default=4, backoff=60, floor=3))
    assert limiter.throttled("qqc", "android") == 3
    client.pexpire(RedisLimiter.keys("qqc", "android")[1], 1000)
    assert limiter.throttled("qqc", "android") == 3


def test_unreachable_redis_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    dead = ratelimit.connect(f"redis://127.0.0.1:{free_port()}/0")
    limiter = RedisLimiter(dead, RateLimits(default=1, max_wait=0))
    assert [limiter.acquire("qqc", "android") for _ in range(3)] == [0, 0, 0]
    assert limiter.throttled("qqc", "android") == 1
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per 10 s, not once per send


def test_feedback_lowers_only_on_10027(client: redis.Redis) -> None:
    limiter = RedisLimiter(client, RateLimits(default=100))
    ratelimit.use(limiter)
    try:
        ratelimit.feedback("qqc", "android", 10001)
        assert limiter.current("qqc", "android") == 100
        ratelimit.feedback("qqc", "android", 10027)
        assert limiter.current("qqc", "android") == 50
    finally:
        ratelimit.use(ratelimit.Unlimited())


class _Scripted:
    """A limiter that defers the first ``defer`` requests, and records 10027 feedback."""

    def __init__(self, defer: int) -> None:
        self.defer = defer
        self.throttled_calls: list[tuple[str, str]] = []

    def acquire(self, app: str, platform: str) -> float:
        if self.defer:
            self.defer -= 1
            raise Deferred(0.4, 20)
        return 0.0

    def throttled(self, app: str, platform: str) -> float:
        self.throttled_calls.append((app, platform))
        return 10.0


@pytest.mark.django_db
def test_a_deferred_send_comes_back_without_spending_the_retry_budget(emulator) -> None:
    from pushworker.delivery import service
    from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
    from tests.unit.test_service import visit

    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    scripted = _Scripted(defer=3)
    ratelimit.use(scripted)
    event = visit()
    for _ in range(3):
        assert service.deliver(event).status == DeliveryStatus.RETRYING
        due = Delivery.objects.get(event_id=event.event_id).next_attempt_at
        assert 0.3 <= (due - timezone.now()).total_seconds() <= 0.6  # the limiter's wait
    delivery = Delivery.objects.get(event_id=event.event_id)
    assert (delivery.retries, delivery.attempts, delivery.error_category) == (0, 0, "rate_limited")
    assert emulator.requests() == []
    assert service.deliver(event).status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_a_10027_answer_is_fed_back_to_the_limiter(emulator) -> None:
    from pushworker.delivery import service
    from pushworker.store.models import DeliveryStatus, PushDevice
    from tests.unit.test_service import visit

    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    scripted = _Scripted(defer=0)
    ratelimit.use(scripted)
    emulator.set_faults(script=["10027", "10027"])
    assert service.deliver(visit()).status == DeliveryStatus.RETRYING
    assert scripted.throttled_calls == [("qqc", "android")]
