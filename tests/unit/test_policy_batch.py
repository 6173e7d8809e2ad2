"""The delivery policy in batch runs (pushworker.batch → policy): the same decisions as one event
at a time, with a private redis-server, the real emulator, and a profile of a backlog's cost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from django.db import connection

from pushworker import batch, conf, policy, records
from pushworker.events import GoodsVisit
from pushworker.models import Delivery, PushDevice
from tests.support.redis_server import RedisServer
from tests.unit.environment import emulator_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(private_redis: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(private_redis.url)
    connection.flushall()
    policy.use(connection)
    yield connection
    policy.use(None)
    connection.close()


@pytest.fixture
def with_policy(fresh_emulator, configure, client):
    """``with_policy(spec, batch_size)``: batch runs sending to the emulator with that policy."""

    def apply(spec: str = "", batch_size: int = 100) -> object:
        env = emulator_env(fresh_emulator, PUSHWORKER_POLICY=spec)
        configure(**env, PUSHWORKER_BATCH_SIZE=str(batch_size))
        return fresh_emulator

    return apply


def queued(owner: str, visitor: str, goods: str = "g-1") -> GoodsVisit:
    """A visit left as a backlog row (no message carries it), for a batch run to claim."""
    PushDevice.objects.get_or_create(user_id=owner, app_name="qqc", os_type="android")
    event = GoodsVisit.from_call(owner, visitor, goods, "青花瓷碗", "小明")
    records.ensure(event, "qqc", published=False)
    return event


def drain(run_id: str = "run") -> dict[str, int]:
    """Claim and deliver until the backlog is empty; the outcomes of all runs."""
    settings, counts, n = conf.get(), {}, 0
    while claimed := batch.claim(f"{run_id}-{n}", settings).deliveries:
        for status, count in batch.deliver(claimed, settings).counts.items():
            counts[status] = counts.get(status, 0) + count
        n += 1
    return counts


def outcomes(events: list[GoodsVisit]) -> list[tuple[str, str]]:
    rows = {str(d.event_id): d for d in Delivery.objects.all()}
    return [(rows[e.event_id].status, rows[e.event_id].error_category) for e in events]


def test_the_same_buyer_twice_in_one_batch_is_one_push(with_policy) -> None:
    emulator = with_policy()
    events = [queued("o1", "v1"), queued("o2", "v1"), queued("o1", "v1"), queued("o1", "v1")]
    assert drain() == {"sent": 2, "suppressed": 2}
    assert outcomes(events) == [("sent", ""), ("sent", ""), ("suppressed", "duplicate")] + [
        ("suppressed", "duplicate")
    ]
    assert len(emulator.messages()) == 2


def test_the_daily_cap_is_reached_inside_one_batch(with_policy) -> None:
    emulator = with_policy("DAILY_CAP=3")
    events = [queued("o1", f"v{n}") for n in range(5)] + [queued("o2", "v1")]
    assert drain() == {"sent": 4, "suppressed": 2}
    assert [c for _, c in outcomes(events)] == ["", "", "", "daily_cap", "daily_cap", ""]
    assert len(emulator.messages()) == 4


def test_a_repeat_held_by_the_cap_hands_the_window_to_the_next_visit_in_the_batch(
    with_policy,
) -> None:
    with_policy("DAILY_CAP=1")
    first = queued("o1", "v1")
    drain("day")  # the cap of 1 is used
    # A visit held by the cap holds no dedup window: its repeat is held by the cap, not a repeat.
    events = [queued("o1", "v2"), queued("o1", "v2")]
    assert drain() == {"suppressed": 2}
    assert outcomes([first, *events]) == [("sent", ""), *[("suppressed", "daily_cap")] * 2]


def test_a_push_after_held_ones_is_a_digest_in_a_batch_and_the_next_batch(with_policy) -> None:
    emulator = with_policy("DAILY_CAP=0")
    queued("o1", "v1")
    queued("o2", "v1")
    drain("one")
    # o1: a repeat (held back), then another buyer: the push says both, once.
    events = [queued("o1", "v1"), queued("o1", "v2"), queued("o1", "v3"), queued("o2", "v2")]
    assert drain("two") == {"sent": 3, "suppressed": 1}
    texts = {m["targets"][0]: m["fields"]["description"] for m in emulator.messages()[2:]}
    assert outcomes(events)[0] == ("suppressed", "duplicate")
    assert sorted(texts.values()).count("2 位用户浏览了您的商品【青花瓷碗】") == 1
    queued("o1", "v1")  # a repeat again, held; the next batch's push says it
    queued("o1", "v4")
    drain("three")
    last = emulator.messages()[-1]["fields"]["description"]
    assert last == "2 位用户浏览了您的商品【青花瓷碗】"


@pytest.mark.parametrize("spec", ["off", ""], ids=["policy-off", "policy-default"])
def test_profile_of_a_backlog_of_200_owners_by_10_visits(with_policy, spec, capsys) -> None:
    """Not a timed test: it prints the worker's CPU per event and the statements per batch, and
    pins only the decisions (6 distinct buyers over 10 visits: 5 pushes, a cap, 4 repeats)."""
    with_policy(spec)
    for n in range(10):  # visit by visit, so each batch holds half the owners once
        for owner in range(200):
            queued(f"o{owner}", f"v{n % 6}")
    statements = []
    started, cpu = time.thread_time(), time.process_time()
    with connection.execute_wrapper(lambda run, sql, *a: statements.append(sql) or run(sql, *a)):
        counts = drain()
    worker_ms = (time.thread_time() - started) * 1000 / 2000
    process_ms = (time.process_time() - cpu) * 1000 / 2000
    with capsys.disabled():
        print(
            f"\n[{spec or 'default'}] {counts}: {worker_ms:.2f} ms worker thread CPU/event, "
            f"{process_ms:.2f} ms process CPU/event (emulator included), "
            f"{len(statements) / 20:.0f} statements per batch of 100"
        )
    if spec == "off":
        assert counts == {"sent": 2000}
    else:
        assert counts == {"sent": 1000, "suppressed": 1000}
        held = Delivery.objects.filter(status="suppressed")
        assert held.filter(error_category="daily_cap").count() == 200
