"""The delivery policy in runs of many events (drains): the same decisions as one event at a time,
with a private redis-server, the real emulator, and a profile of a backlog's cost."""

from __future__ import annotations

import random
import socket
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from django.db import connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from pushworker import conf
from pushworker.delivery import policy, service
from pushworker.delivery.recent import Recent
from pushworker.events import GoodsVisit
from pushworker.store import deliveries
from pushworker.store.models import Delivery, PushDevice
from tests.unit.environment import emulator_env
from tests.unit.test_policy import client  # noqa: F401 - the policy's private Redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_policy(fresh_emulator, configure, client):  # noqa: F811
    """``with_policy(spec, batch_size)``: batch runs sending to the emulator with that policy."""

    def apply(spec: str = "", batch_size: int = 100) -> object:
        env = emulator_env(fresh_emulator, PUSHWORKER_POLICY=spec)
        configure(**env, PUSHWORKER_BATCH_SIZE=str(batch_size))
        return fresh_emulator

    return apply


@pytest.fixture(params=["redis", "no-redis", "redis-down"])
def backend(request, with_policy):
    """``with_policy`` with Redis, without it (the database alone answers), or with a Redis that
    refuses every connection (the same fallback, through the error path)."""

    def apply(spec: str = "", batch_size: int = 100) -> object:
        emulator = with_policy(spec, batch_size)
        if request.param == "no-redis":
            policy.use(None)  # no worker app installed: no limiter, no client
        if request.param == "redis-down":
            with socket.socket() as probe:  # a free port: nothing listens on it
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            # No retries: redis-py's default backoff would spend seconds per call on a dead port.
            policy.use(redis.Redis(port=port, retry=Retry(NoBackoff(), 0)))
        return emulator

    return apply


def queued(owner: str, visitor: str, goods: str = "g-1") -> GoodsVisit:
    """A visit left as a backlog row (no message carries it), for a batch run to claim."""
    PushDevice.objects.get_or_create(user_id=owner, app_name="qqc", os_type="android")
    event = GoodsVisit.from_call(owner, visitor, goods, "青花瓷碗", "小明")
    deliveries.ensure(event, "qqc", published=False)
    return event


def drain(run_id: str = "run") -> dict[str, int]:
    """Claim and deliver until the backlog is empty; the outcomes of all runs."""
    settings, counts, n = conf.get(), {}, 0
    while (claimed := service.claim(f"{run_id}-{n}", settings)).rows:
        for status, count in service.drain(claimed, settings).counts.items():
            counts[status] = counts.get(status, 0) + count
        n += 1
    return counts


def one_by_one(events: list[GoodsVisit]) -> None:
    """Runs of one event, each decided and sent after the previous one ended, in claim order (the
    order drains claim them in: oldest first)."""
    for event in events:
        service.deliver(event)


def outcomes(events: list[GoodsVisit]) -> list[tuple[str, str]]:
    rows = {str(d.event_id): d for d in Delivery.objects.all()}
    return [(rows[e.event_id].status, rows[e.event_id].error_category) for e in events]


def test_the_same_buyer_twice_in_one_batch_is_one_push(with_policy) -> None:
    emulator = with_policy()
    events = [queued("o1", "v1"), queued("o2", "v1"), queued("o1", "v1"), queued("o1", "v1")]
    assert drain() == {"sent": 2, "suppressed": 2}
    repeat = ("suppressed", "duplicate")
    assert outcomes(events) == [("sent", ""), ("sent", ""), repeat, repeat]
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
    # o1: a repeat (held back), then another buyer in the same batch: that push says both.
    events = [queued("o1", "v1"), queued("o1", "v2"), queued("o2", "v2")]
    assert drain("two") == {"sent": 2, "suppressed": 1}
    assert outcomes(events)[0] == ("suppressed", "duplicate")
    texts = {m["targets"][0]: m["fields"]["description"] for m in emulator.messages()[2:]}
    assert texts == {
        "QQC_o1": "2 位用户浏览了您的商品【青花瓷碗】",
        "QQC_o2": "【小明】刚刚浏览了您的商品【青花瓷碗】~",
    }
    queued("o1", "v1")  # a repeat again, held; the next batch's push says it
    queued("o1", "v4")
    drain("three")
    last = emulator.messages()[-1]["fields"]["description"]
    assert last == "2 位用户浏览了您的商品【青花瓷碗】"


def mixed_backlog(draw: random.Random, n: int) -> list[GoodsVisit]:
    """``n`` visits to 30 owners by 6 buyers of 3 goods: repeats, caps and digests."""
    return [
        queued(f"o{draw.randrange(30)}", f"v{draw.randrange(6)}", f"g{draw.randrange(3)}")
        for _ in range(n)
    ]


def replay(emulator, client, run) -> list[object]:  # noqa: F811
    """Three backlogs: with Redis, after Redis lost its data, without Redis; ``run(step, events)``
    delivers each."""
    draw, seen = random.Random(9), []
    for step in ("redis", "lost", "none"):
        if step == "lost":
            client.flushall()
        if step == "none":
            policy.use(None)  # no worker app installed: the database alone answers
        events = mixed_backlog(draw, 150)
        run(step, events)
        seen += outcomes(events)
    policy.use(client)
    pushes = sorted((m["targets"][0], m["fields"]["description"]) for m in emulator.messages())
    return [seen, pushes]


def test_batches_decide_as_their_events_one_after_another_in_claim_order(
    with_policy,
    client,  # noqa: F811
    monkeypatch,
):
    """The same backlogs in drains of 50 and in runs of one event: the same outcome for every event
    and the same pushes (digests included)."""
    emulator = with_policy(batch_size=50)
    noon = datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=12)
    monkeypatch.setattr(policy, "clock", lambda: noon)  # one day in the app's zone throughout
    in_batches = replay(emulator, client, lambda step, events: drain(step))
    Delivery.objects.all().delete()
    client.flushall()
    emulator.reset()
    assert replay(emulator, client, lambda step, events: one_by_one(events)) == in_batches
    statuses = [status for status, _ in in_batches[0]]
    assert {c for _, c in in_batches[0]} >= {"", "duplicate", "daily_cap"}
    assert len(statuses) == 450 and any(" 位用户" in text for _, text in in_batches[1])


def test_the_cap_and_dedup_hold_inside_one_batch_with_or_without_redis(backend) -> None:
    emulator = backend("DAILY_CAP=5")
    events = [queued("o1", f"v{n}") for n in range(8)] + [queued("o2", "v1"), queued("o2", "v1")]
    assert drain() == {"sent": 6, "suppressed": 4}
    held = ["daily_cap"] * 3
    assert [c for _, c in outcomes(events)] == ["", "", "", "", "", *held, "", "duplicate"]
    assert len(emulator.messages()) == 6


def test_two_pushes_to_one_owner_in_a_batch_say_the_digest_once(backend) -> None:
    emulator = backend("DAILY_CAP=0")
    queued("o1", "v1")
    drain("one")
    # A repeat held; a push saying both; a push with nothing held since the one before it; a
    # repeat held after it; a push saying that one.
    # A repeat held after the last push: the next batch's push says it.
    events = [queued("o1", v) for v in ("v1", "v2", "v3", "v2", "v4", "v4")]
    assert drain("two") == {"sent": 3, "suppressed": 3}
    assert [c for _, c in outcomes(events)] == ["duplicate", "", "", "duplicate", "", "duplicate"]
    texts = sorted(m["fields"]["description"] for m in emulator.messages()[1:])
    digest, alone = "2 位用户浏览了您的商品【青花瓷碗】", "【小明】刚刚浏览了您的商品【青花瓷碗】~"
    assert texts == [digest, digest, alone]
    queued("o1", "v5")
    drain("three")
    assert emulator.messages()[-1]["fields"]["description"] == digest


def test_a_row_of_the_batch_with_a_request_made_counts_toward_the_cap_as_in_the_database(
    with_policy,
) -> None:
    with_policy()
    first, second = queued("o1", "v1"), queued("o1", "v2")
    claimed = service.claim("run", conf.get()).rows
    Delivery.objects.filter(event_id=first.event_id).update(attempts=1)  # a dead run's request
    claimed[0].attempts = 1
    midnight = policy.clock().astimezone(ZoneInfo("Asia/Shanghai")).replace(hour=0, minute=0)
    seen = Recent(claimed)
    assert seen.admitted_since(first, claimed[0], midnight) == []
    assert seen.admitted_since(second, claimed[1], midnight) == [first.event_id]


def test_a_run_reads_the_rows_held_back_since_each_recipients_last_push_in_one_query(
    with_policy,
) -> None:
    with_policy("DAILY_CAP=0")
    for owner in ("before", "after", "never"):
        queued(owner, "v1")
    drain("one")
    queued("before", "v1")  # a repeat held back, then a push: the digest said it
    queued("before", "v2")
    queued("after", "v2")  # a push, then a repeat held back: the next push says it
    drain("two")
    queued("after", "v2")
    drain("three")
    events = {owner: queued(owner, "v9") for owner in ("before", "after", "never")}
    claimed = service.claim("run", conf.get()).rows
    seen, statements = Recent(claimed), []
    with connection.execute_wrapper(lambda run, sql, *a: statements.append(sql) or run(sql, *a)):
        held = {
            row.recipient_id: len(seen.held_since_last_push(events[row.recipient_id], row))
            for row in claimed
        }
    assert held == {"before": 0, "after": 1, "never": 0}
    assert len(statements) <= 3  # held rows, last pushes, and the rows since: once for the run


def profile(day: str, spec: str) -> dict[str, int]:
    """Drain the backlog, printing the worker's CPU per event and the statements per batch."""
    statements: list[str] = []
    started, cpu = time.thread_time(), time.process_time()
    with connection.execute_wrapper(lambda run, sql, *a: statements.append(sql) or run(sql, *a)):
        counts = drain(day)
    worker_ms = (time.thread_time() - started) * 1000 / 2000
    process_ms = (time.process_time() - cpu) * 1000 / 2000
    print(
        f"\n[policy {spec or 'default'}, {day}] {dict(sorted(counts.items()))}: "
        f"{worker_ms:.2f} ms worker thread CPU/event, "
        f"{process_ms:.2f} ms process CPU/event (emulator included), "
        f"{len(statements) / 20:.0f} statements per batch of 100"
    )
    return counts


@pytest.mark.slow  # 8,000 events: about ten seconds
@pytest.mark.parametrize("spec", ["off", ""], ids=["policy-off", "policy-default"])
def test_profile_of_a_backlog_of_200_owners_by_10_visits(
    with_policy, spec, capsys, monkeypatch
) -> None:
    """Not a timed test: it prints the worker's CPU per event and the statements per batch, and
    pins only the decisions. 6 buyers in 10 visits a day: 5 pushes, a cap, 4 repeats; the next
    day (other goods) the owners have rows held back the day before: one digest each."""
    emulator = with_policy(spec)
    noon = datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=12)
    for day, goods in (("day 1", "g-1"), ("day 2", "g-2")):
        monkeypatch.setattr(policy, "clock", lambda moment=noon: moment)
        for n in range(10):  # visit by visit, so each batch holds half the owners once
            for owner in range(200):
                queued(f"o{owner}", f"v{n % 6}", goods)
        with capsys.disabled():
            counts = profile(day, spec)
        if spec == "off":
            assert counts == {"sent": 2000}
        else:
            assert counts == {"sent": 1000, "suppressed": 1000}
        noon += timedelta(days=1)
    digests = [m for m in emulator.messages() if "位用户" in m["fields"]["description"]]
    assert len(digests) == (0 if spec == "off" else 200)
