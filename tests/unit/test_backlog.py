"""Specifies producer.backlog and how delay() joins it: one message per event while the queue is
short; under a backlog the row waits unpublished and exactly one drain message is kicked.

Against a real redis-server of this module's own; the task's publish is recorded (its broker
message is not the subject here), the drain message is really published through the Celery app.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from celery import Celery
from django.db import transaction

from pushworker.broker import install as integration
from pushworker.broker import queues
from pushworker.demo.localredis import SilentRedis, free_port
from pushworker.events import GoodsVisit
from pushworker.events.order_shipped import OrderShipped
from pushworker.producer import backlog, enqueue
from pushworker.store.models import Delivery
from tests.unit.environment import CREDENTIALS, FAST

# Committed rows, as a web request's: delay() then publishes on a publisher thread.
pytestmark = pytest.mark.django_db(transaction=True)
QUEUE = queues.QUEUE


def app_on(url: str) -> Celery:
    return integration.install(Celery("backlog-test", broker=url, set_as_current=False))


class Task:
    """A task of ``app`` whose own message is recorded, not published."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self.calls: list[dict] = []

    def apply_async(self, **options) -> None:
        self.calls.append(options)


@pytest.fixture
def redis_url(private_redis) -> str:
    client = redis.Redis.from_url(private_redis.url)
    client.flushdb()
    return private_redis.url


@pytest.fixture
def broker(redis_url) -> redis.Redis:
    backlog.use(None)  # the app's own broker (conftest turns the backlog off for other tests)
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def setup(configure):
    def apply(threshold: int = 20) -> None:
        configure(**CREDENTIALS, **FAST, PUSHWORKER_BACKLOG_THRESHOLD=str(threshold))
        backlog.use(None)

    apply()
    return apply


def visit() -> GoodsVisit:
    return GoodsVisit.from_call(owner_id="42", visitor_id="7", goods_id="1", goods_name="碗")


def sent(task: Task) -> list[dict]:
    """The task's publishes, once the publisher threads have settled."""
    assert enqueue.flush(5)
    return task.calls


def published_at(event: GoodsVisit):
    return Delivery.objects.get(event_id=event.event_id).published_at


def drains(client: redis.Redis) -> int:
    # The stand-ins of a long queue (b"x") are not messages; the drain's is a real Celery one.
    messages = [json.loads(m) for m in client.lrange(QUEUE, 0, -1) if m.startswith(b"{")]
    return sum(1 for m in messages if m["headers"]["task"] == backlog.DRAIN_TASK)


def test_a_short_queue_gives_the_event_its_own_message(setup, broker, redis_url) -> None:
    task, event = Task(app_on(redis_url)), visit()
    enqueue.enqueue(task, event)
    assert [c["task_id"] for c in sent(task)] == [event.event_id]
    assert published_at(event) is not None
    assert not broker.exists(backlog.FLAG) and drains(broker) == 0


def test_a_long_queue_sets_the_flag_and_kicks_exactly_one_drain(setup, broker, redis_url) -> None:
    broker.lpush(QUEUE, *[b"x"] * 20)
    task, events = Task(app_on(redis_url)), [visit() for _ in range(5)]
    for event in events:
        enqueue.enqueue(task, event)
    assert sent(task) == []  # no message of their own: the drain sends them
    assert all(published_at(e) is None for e in events)
    assert broker.exists(backlog.FLAG) and drains(broker) == 1
    assert 0 < broker.pttl(backlog.FLAG) <= 60_000  # the visibility timeout: a dead drain expires


def test_while_the_flag_is_set_events_join_without_a_message(setup, broker, redis_url) -> None:
    broker.set(backlog.FLAG, "1")
    task, event = Task(app_on(redis_url)), visit()
    enqueue.enqueue(task, event)
    assert sent(task) == [] and published_at(event) is None
    assert drains(broker) == 0  # a drain is already under way


def test_threshold_zero_makes_every_event_join(setup, broker, redis_url) -> None:
    setup(threshold=0)
    task, first, second = Task(app_on(redis_url)), visit(), visit()
    enqueue.enqueue(task, first)
    enqueue.enqueue(task, second)
    assert sent(task) == [] and published_at(first) is None and published_at(second) is None
    assert drains(broker) == 1


def test_the_same_event_twice_is_one_row_and_joins_once(setup, broker, redis_url) -> None:
    setup(threshold=0)
    task, event = Task(app_on(redis_url)), visit()
    enqueue.enqueue(task, event)
    broker.delete(backlog.FLAG)
    enqueue.enqueue(task, event)  # already kept: nothing more to do
    assert Delivery.objects.filter(event_id=event.event_id).count() == 1
    assert drains(broker) == 1


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_redis_down_keeps_the_row_for_the_relay_within_the_budget(setup, server) -> None:
    silent = SilentRedis() if server == "silent" else None
    url = silent.url if silent else f"redis://127.0.0.1:{free_port()}/0"
    try:
        task, event = Task(app_on(url)), visit()
        started = time.monotonic()
        enqueue.enqueue(task, event)
        elapsed = time.monotonic() - started
    finally:
        if silent:
            silent.close()
    assert sent(task) == [] and published_at(event) is None  # the relay publishes it
    assert not enqueue.breaker.allows()
    assert elapsed < 0.1 + 0.5  # the budget (FAST: 100 ms), with room for a slow machine


class Published(Task):
    """A task whose message the Celery app really publishes to its broker."""

    def apply_async(self, **options) -> None:
        self.calls.append(options)
        self.app.send_task("pushworker.send_order_shipped", queue=queues.URGENT_QUEUE, **options)


@pytest.mark.parametrize("server", ["refused", "silent"])
def test_an_urgent_event_asks_redis_nothing_and_its_failed_publish_goes_to_the_relay(
    setup, server
) -> None:
    silent = SilentRedis() if server == "silent" else None
    url = silent.url if silent else f"redis://127.0.0.1:{free_port()}/0"
    event = OrderShipped.from_call(buyer_id="42", order_id="o-1", goods_name="碗", carrier="顺丰")
    try:
        task = Published(app_on(url))
        started = time.monotonic()
        enqueue.enqueue(task, event)  # no backlog question: its own message, in the background
        elapsed = time.monotonic() - started
        assert enqueue.flush(5)  # failed, or given up at the budget while it still hangs
    finally:
        if silent:
            silent.close()  # a publish still hanging on it fails now
    assert len(task.calls) == 1 and published_at(event) is None and not enqueue.breaker.allows()
    assert elapsed < 0.1 + 0.5  # within the budget, as above (it waits for no Redis at all)
    wait_until(lambda: enqueue._publisher.held == 0)  # its thread is free for the next test


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


def test_delay_on_commit_leaves_the_row_to_the_drain_under_a_backlog(
    setup, broker, redis_url
) -> None:
    setup(threshold=0)
    task, event = Task(app_on(redis_url)), visit()
    with transaction.atomic():
        enqueue.enqueue_on_commit(task, event)
        assert drains(broker) == 0  # nothing before the commit
    assert sent(task) == [] and published_at(event) is None
    assert drains(broker) == 1


def test_delay_on_commit_publishes_after_the_commit_when_the_queue_is_short(
    setup, broker, redis_url
) -> None:
    task, event = Task(app_on(redis_url)), visit()
    with transaction.atomic():
        enqueue.enqueue_on_commit(task, event)
    assert len(sent(task)) == 1 and published_at(event) is not None


def test_events_enqueued_faster_than_redis_takes_them_join_the_backlog_without_the_breaker(
    configure, broker, redis_url, monkeypatch
) -> None:
    configure(**CREDENTIALS, **(FAST | {"PUSHWORKER_ENQUEUE_BUDGET_MS": "10000"}))  # slow, not hung
    backlog.use(None)
    monkeypatch.setattr(enqueue._publisher, "limit", 1)
    answer = threading.Event()

    class Slow(Task):
        def apply_async(self, **options) -> None:
            answer.wait(10)
            super().apply_async(**options)

    task, first, second = Slow(app_on(redis_url)), visit(), visit()
    enqueue.enqueue(task, first)  # its publish is held: the one the publisher has room for
    enqueue.enqueue(task, second)
    assert published_at(second) is None  # a row for a drain, which the relay kicks
    assert not broker.exists(backlog.FLAG) and enqueue.breaker.allows()  # nothing to trip
    answer.set()
    assert [c["task_id"] for c in sent(task)] == [first.event_id]


def test_kick_sets_the_flag_and_settle_deletes_it(setup, broker, redis_url) -> None:
    app = app_on(redis_url)
    assert not broker.exists(backlog.FLAG)
    assert backlog.kick(app) is True
    assert broker.exists(backlog.FLAG) and drains(broker) == 1
    backlog.settle(app)
    assert not broker.exists(backlog.FLAG)


def test_a_broker_that_is_not_redis_has_no_backlog(setup) -> None:
    app = integration.install(Celery("memory-test", broker="memory://", set_as_current=False))
    assert backlog.client(app) is None and backlog.kick(app) is False
    task, event = Task(app), visit()
    enqueue.enqueue(task, event)
    assert len(sent(task)) == 1


def test_a_short_queue_is_trusted_for_a_moment_and_a_backlog_is_asked_every_time(
    setup, broker, redis_url, monkeypatch
) -> None:
    task = Task(app_on(redis_url))
    enqueue.enqueue(task, visit())  # asks: the queue is short
    broker.set(backlog.FLAG, "1")
    enqueue.enqueue(task, visit())  # within SHORT_FOR: its own message, without asking
    assert len(sent(task)) == 2
    monkeypatch.setattr(enqueue, "_short_until", 0.0)  # the moment has passed
    joined = visit()
    enqueue.enqueue(task, joined)
    assert len(sent(task)) == 2 and published_at(joined) is None
    broker.delete(backlog.FLAG)  # the backlog's last run settled it: asked again, not cached
    enqueue.enqueue(task, visit())
    assert len(sent(task)) == 3
