"""Specifies delivery.outage, the breaker shared through a real redis-server of its own, and what
the engine does with it against the real emulator: an outage costs one probe at a time, events wait
as rows without spending retries, and the first answer wakes them."""

from __future__ import annotations

import pytest
import redis
from django.utils import timezone

from pushworker import conf
from pushworker.conf.types import OutagePolicy
from pushworker.delivery import outage, service
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from tests.unit.environment import emulator_env
from tests.unit.test_drain import backlog, due_now, run

pytestmark = pytest.mark.django_db

FAST = OutagePolicy(failures=3, first_seconds=0.2, longest_seconds=0.8, probe_seconds=5)


@pytest.fixture
def client(private_redis) -> redis.Redis:
    found = redis.Redis(port=private_redis.port)
    found.flushall()
    return found


@pytest.fixture
def breaker(client) -> outage.Breaker:
    made = outage.Breaker(client, FAST)
    outage.use(made)
    yield made
    outage.use(None)


def fail(breaker: outage.Breaker, times: int, probe: bool = False) -> float:
    opened = 0.0
    for _ in range(times):
        opened = breaker.failed(outage.Ticket("android", "production", probe=probe))
    return opened


def test_a_host_is_open_only_after_failures_in_a_row(breaker) -> None:
    assert fail(breaker, FAST.failures - 1) == 0
    assert breaker.ask("android", "production").failures == FAST.failures - 1
    assert fail(breaker, 1) == FAST.first_seconds
    with pytest.raises(outage.Outage) as waiting:
        breaker.ask("android", "production")
    assert 0 < waiting.value.wait <= FAST.first_seconds
    breaker.ask("ios", "production")  # another platform is not down with it
    breaker.ask("android", "sandbox")  # nor another host


def test_a_success_between_failures_starts_the_count_again(breaker) -> None:
    fail(breaker, FAST.failures - 1)
    ticket = breaker.ask("android", "production")
    assert breaker.succeeded(ticket) is False  # it ended no outage, only the count
    assert fail(breaker, FAST.failures - 1) == 0


def test_once_the_wait_is_over_one_worker_probes_and_the_others_wait(breaker, client) -> None:
    fail(breaker, FAST.failures)
    client.hset(breaker.keys("android", "production")[0], "open_until", 1)  # the wait is over
    probe = breaker.ask("android", "production")
    assert probe.probe
    with pytest.raises(outage.Outage):  # a second worker asks while the probe is out
        breaker.ask("android", "production")
    assert breaker.succeeded(probe) is True  # the host answers: the outage is over
    assert not breaker.ask("android", "production").probe


def test_a_failed_probe_waits_twice_as_long_up_to_the_longest(breaker, client) -> None:
    fail(breaker, FAST.failures)
    waits = []
    for _ in range(4):
        client.hset(breaker.keys("android", "production")[0], "open_until", 1)
        assert breaker.ask("android", "production").probe
        waits.append(fail(breaker, 1, probe=True))
    assert waits == [0.4, 0.8, 0.8, 0.8]


def test_without_redis_the_breaker_lets_every_request_go(client) -> None:
    dead = outage.Breaker(redis.Redis(port=1, socket_connect_timeout=0.2), FAST)
    assert not dead.ask("android", "production").probe
    assert dead.failed(outage.Ticket("android", "production")) == 0


@pytest.fixture
def engine_with_breaker(emulator, configure, breaker):
    configure(
        **emulator_env(emulator),
        PUSHWORKER_OUTAGE_FAILURES=str(FAST.failures),
        PUSHWORKER_OUTAGE_PROBE_FIRST=str(FAST.first_seconds),
    )
    outage.use(breaker)  # configure() starts from a clean process: the breaker again
    return emulator


def test_events_wait_for_the_probe_as_rows_spending_no_retry(engine_with_breaker) -> None:
    emulator = engine_with_breaker
    emulator.set_faults(fail_rate=1.0, fail_with="http503")
    settings = conf.get()
    events = backlog([f"a{n}" for n in range(6)])
    PushDevice.objects.create(user_id="a0", app_name="qqc", os_type="ios")  # a second group
    assert run("first").counts == {"retrying": 6}
    # Each group's request failed its quick tries (3 in a row): both hosts are down.
    made = len(emulator.requests())
    assert made <= 2 * settings.retry.quick_attempts
    due_now(events)
    assert run("during").counts == {"retrying": 6}
    assert len(emulator.requests()) - made <= 2  # at most a probe per host, not one per event
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    # The first run's failure spent a retry; waiting for the probe spent none.
    assert {(d.retries, d.error_category) for d in rows} == {(1, "outage")}


def test_the_first_answer_after_an_outage_makes_its_waiting_rows_due_at_once(
    engine_with_breaker, client, breaker
) -> None:
    emulator = engine_with_breaker
    events = backlog([f"a{n}" for n in range(4)])
    fail(breaker, FAST.failures)  # Xiaomi was down
    assert run("during").counts == {"retrying": 4}
    later = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert {d.error_category for d in later} == {"outage"}
    emulator.set_faults()
    client.hset(breaker.keys("android", "production")[0], "open_until", 1)  # probe time
    first = events[0]
    Delivery.objects.filter(event_id=first.event_id).update(next_attempt_at=timezone.now())
    outcome = service.deliver(first)  # its run is the probe, and it is answered
    assert outcome.status == DeliveryStatus.SENT and outcome.woke == 3
    assert run("after").counts == {"sent": 3}  # due at once, not at the end of their waits
