"""Specifies producer.enqueue: the web process never waits past its budget nor loses an event.

The broker call is faked here (a task object whose ``apply_async`` answers, fails or hangs): this is
the unit under test's only collaborator, and Redis outages are covered by the fault suite. A
``delay()`` returns once its row is committed and publishes on a publisher thread, so the tests
wait for that thread (``enqueue.flush``) before they look.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import DatabaseError, transaction

from pushworker import conf
from pushworker.events import GoodsVisit, InvalidEventError
from pushworker.producer import enqueue
from pushworker.store import deliveries
from pushworker.store.models import Delivery, DeliveryStatus
from pushworker.tasks import TASKS, relay_outbox
from tests.unit.environment import CREDENTIALS, FAST

# Committed rows: the publisher threads read and write them through connections of their own.
pytestmark = pytest.mark.django_db(transaction=True)


class FakeTask:
    """Stands in for ``send_goods_visit``: records each publish; answers, raises or hangs."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.calls: list[dict] = []
        self.release = threading.Event()
        self.returned = threading.Event()  # the last publish has returned or raised

    def apply_async(self, **options) -> None:
        self.calls.append(options)
        try:
            if self.mode == "fail":
                raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
            if self.mode == "refuse":  # what Celery said to every publish under a host's soft limit
                raise ValueError("soft_time_limit must be less than or equal to time_limit")
            if self.mode == "hang":
                self.release.wait(5)
        finally:
            self.returned.set()


@pytest.fixture
def tasks():
    made: list[FakeTask] = []

    def make(mode: str = "ok") -> FakeTask:
        made.append(FakeTask(mode))
        return made[-1]

    yield make
    for task in made:  # free the publisher threads a hanging task holds
        task.release.set()


@pytest.fixture(autouse=True)
def settings_(configure):
    configure(**CREDENTIALS, **FAST)
    return conf.get()


def visit(**changes) -> GoodsVisit:
    args = {"owner_id": "42", "visitor_id": "7", "goods_id": "1001", "goods_name": "二手自行车"}
    return GoodsVisit.from_call(**(args | changes))


def row(event: GoodsVisit) -> Delivery | None:
    return Delivery.objects.filter(event_id=event.event_id).first()


def settled() -> None:
    """Wait until the background publishes are published or handed to the relay."""
    assert enqueue.flush(5), "the publisher threads did not settle"


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


def test_publish_hands_the_event_to_the_task_by_id_without_celerys_own_retries(tasks) -> None:
    task, event = tasks(), visit()
    assert enqueue.publish(task, event) is True
    correlation = {"pushworker_correlation_id": event.event_id}  # the event id, unless set
    assert task.calls == [
        {
            "kwargs": event.as_kwargs(),
            "task_id": event.event_id,
            "retry": False,
            "headers": correlation,
        }
    ]


def test_publish_gives_up_at_the_budget_when_the_broker_hangs(tasks, settings_) -> None:
    task = tasks("hang")
    started = time.monotonic()
    assert enqueue.publish(task, visit()) is False
    elapsed = time.monotonic() - started
    assert settings_.enqueue_budget_seconds <= elapsed < settings_.enqueue_budget_seconds + 0.5
    assert not enqueue.breaker.allows()


def test_publish_reports_a_broker_error_as_false_and_logs_it(tasks, caplog) -> None:
    event = visit()
    assert enqueue.publish(tasks("fail"), event) is False
    [record] = [r for r in caplog.records if r.name == "pushworker.enqueue"]
    assert record.delivery_id == event.event_id
    assert "ConnectionError" in record.problem


def test_the_breaker_skips_the_broker_during_its_cool_down_then_lets_one_try_through(
    tasks,
) -> None:
    assert enqueue.publish(tasks("fail"), visit()) is False
    skipped = tasks()
    assert enqueue.publish(skipped, visit()) is False
    assert skipped.calls == []  # no wait at all while open
    wait_until(enqueue.breaker.allows)  # the cool-down is over
    tried = tasks("fail")
    assert enqueue.publish(tried, visit()) is False
    assert len(tried.calls) == 1
    assert enqueue.publish(skipped, visit()) is False and skipped.calls == []  # open again
    wait_until(enqueue.breaker.allows)
    assert enqueue.publish(skipped, visit()) is True
    assert enqueue.breaker.allows()  # a success closes it


def test_a_hung_broker_costs_one_budget_not_one_per_call(tasks, settings_) -> None:
    task = tasks("hang")
    started = time.monotonic()
    results = [enqueue.publish(task, visit()) for _ in range(20)]
    assert results == [False] * 20
    assert len(task.calls) == 1
    assert time.monotonic() - started < settings_.enqueue_budget_seconds + 0.5


def test_enqueue_keeps_the_event_saying_its_message_follows_and_publishes_it_in_the_background(
    tasks,
) -> None:
    task, event = tasks(), visit(visitor_name="小明")
    assert enqueue.enqueue(task, event) == event.event_id
    delivery = row(event)
    assert delivery.status == DeliveryStatus.QUEUED and delivery.published_at is not None
    assert (delivery.recipient_id, delivery.payload["visitor_name"], delivery.app_name) == (
        "42",
        "小明",
        "qqc",
    )
    settled()
    correlation = {"pushworker_correlation_id": event.event_id}
    assert task.calls == [
        {
            "kwargs": event.as_kwargs(),
            "task_id": event.event_id,
            "retry": False,
            "headers": correlation,
        }
    ]


def test_delay_returns_while_its_publish_is_still_waiting_for_redis(tasks, configure) -> None:
    configure(**CREDENTIALS, **(FAST | {"PUSHWORKER_ENQUEUE_BUDGET_MS": "10000"}))  # not given up
    task, event = tasks("hang"), visit()
    enqueue.enqueue(task, event)
    assert not task.returned.is_set()  # the caller did not wait for the broker
    assert row(event).published_at is not None
    task.release.set()
    settled()
    assert task.returned.is_set() and enqueue.breaker.allows()


def test_the_callers_correlation_id_goes_with_the_background_publish(tasks) -> None:
    from pushworker.ops import logs

    task, event = tasks(), visit()
    token = logs._correlation.set("request-7")
    try:
        enqueue.enqueue(task, event)
    finally:
        logs._correlation.reset(token)
    settled()
    assert task.calls[0]["headers"] == {"pushworker_correlation_id": "request-7"}


@pytest.fixture
def relayed(monkeypatch, configure) -> list[str]:
    """The event ids the relay publishes (``relay_outbox`` with a short interval)."""
    configure(**CREDENTIALS, **FAST, PUSHWORKER_RELAY_INTERVAL="0.1")
    published: list[str] = []

    class Recorder:
        def apply_async(self, **options) -> None:
            published.append(options["task_id"])

    monkeypatch.setitem(TASKS, "goods_visit", Recorder())
    return published


def test_a_publish_that_fails_later_hands_the_row_to_the_relay_which_publishes_it(
    tasks, relayed
) -> None:
    event = visit()
    enqueue.enqueue(tasks("fail"), event)
    settled()
    assert row(event).status == DeliveryStatus.QUEUED and row(event).published_at is None
    assert not enqueue.breaker.allows()  # the next calls go straight to the outbox
    wait_until(lambda: relay_outbox() and relayed)  # once older than RELAY_INTERVAL
    assert relayed == [event.event_id]
    assert row(event).published_at is not None


def test_a_publish_hung_past_the_budget_hands_the_row_to_the_relay_and_trips_the_breaker(
    tasks,
) -> None:
    task, event = tasks("hang"), visit()
    enqueue.enqueue(task, event)
    settled()  # the watchdog gives the publish up at the budget, while it still hangs
    assert not task.returned.is_set()
    assert row(event).published_at is None and not enqueue.breaker.allows()
    skipped = tasks()
    enqueue.enqueue(skipped, visit())
    settled()
    assert skipped.calls == []  # the breaker is open: no wait, no publish, a row for the relay


def test_a_hung_broker_holds_a_bounded_number_of_publishes_and_later_calls_keep_their_rows(
    tasks, monkeypatch
) -> None:
    monkeypatch.setattr(enqueue._publisher, "limit", 3)
    task = tasks("hang")
    events = [visit() for _ in range(5)]
    for event in events:
        enqueue.enqueue(task, event)
    # Three publishes held (running or waiting for a thread), the others kept for the relay at
    # once; the watchdog then gives up the held ones too.
    assert len(task.calls) <= 3
    assert all(row(event).published_at is None for event in events[3:])
    settled()
    assert all(row(event).published_at is None for event in events)
    assert not enqueue.breaker.allows()


def test_the_publisher_threads_close_the_database_connection_they_used(tasks, monkeypatch) -> None:
    from django.db import connections

    used: list = []  # (the connection, whether its close() was called)
    real = enqueue.outbox.mark_unpublished

    def mark_unpublished(event_ids):
        connection = connections["default"]  # the publisher thread's own
        used.append([connection, False])
        monkeypatch.setattr(connection, "close", lambda: used[-1].__setitem__(1, True))
        return real(event_ids)

    monkeypatch.setattr(enqueue.outbox, "mark_unpublished", mark_unpublished)
    enqueue.enqueue(tasks("fail"), visit())
    settled()
    [(connection, closed)] = used
    assert connection is not connections["default"] and closed


def test_enqueue_goes_straight_to_the_outbox_while_the_breaker_is_open(tasks) -> None:
    enqueue.breaker.trip(60)
    task, event = tasks(), visit()
    enqueue.enqueue(task, event)
    settled()
    assert task.calls == []
    assert row(event).published_at is None


def test_enqueueing_the_same_event_twice_publishes_it_once(tasks) -> None:
    task, event = tasks(), visit()
    enqueue.enqueue(task, event)
    enqueue.enqueue(task, event)
    settled()
    assert len(task.calls) == 1
    assert Delivery.objects.count() == 1


def test_delay_inside_a_transaction_waits_for_its_publish_and_keeps_a_failed_one_in_it(
    tasks,
) -> None:
    # The row is not committed when delay() returns, so only a publish made now keeps the event,
    # and a failure is written in the same transaction.
    ok, failing = tasks(), tasks("fail")
    published, kept = visit(), visit()
    with transaction.atomic():
        enqueue.enqueue(ok, published)
        assert len(ok.calls) == 1 and row(published).published_at is not None
        enqueue.enqueue(failing, kept)
        assert failing.returned.is_set() and row(kept).published_at is None


def test_on_failure_mode_writes_no_row_when_the_broker_takes_the_event(tasks, configure) -> None:
    configure(**CREDENTIALS, **FAST, PUSHWORKER_ENQUEUE_OUTBOX="on-failure")
    task, event = tasks(), visit()
    enqueue.enqueue(task, event)
    assert len(task.calls) == 1
    assert row(event) is None


def test_on_failure_mode_keeps_the_event_when_the_broker_fails(tasks, configure) -> None:
    configure(**CREDENTIALS, **FAST, PUSHWORKER_ENQUEUE_OUTBOX="on-failure")
    event = visit()
    enqueue.enqueue(tasks("fail"), event)
    assert row(event).status == DeliveryStatus.QUEUED and row(event).published_at is None


def test_an_unknown_app_is_refused_at_the_call_site(tasks) -> None:
    task = tasks()
    with pytest.raises(InvalidEventError) as caught:
        enqueue.enqueue(task, visit(app_name="nope"))
    assert caught.value.argument == "app_name" and "unknown app 'nope'" in str(caught.value)
    with pytest.raises(InvalidEventError):
        enqueue.enqueue_on_commit(task, visit(app_name="nope"))
    assert task.calls == [] and Delivery.objects.count() == 0


def test_the_event_is_published_without_a_durable_copy_when_the_outbox_write_fails(
    tasks, monkeypatch
) -> None:
    def broken(*args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(deliveries, "insert", broken)
    task, event = tasks(), visit()
    assert enqueue.enqueue(task, event) == event.event_id
    assert len(task.calls) == 1  # waited for: without a row, only the broker keeps it
    lost = visit()
    with pytest.raises(enqueue.EnqueueError, match=lost.event_id):
        enqueue.enqueue(tasks("fail"), lost)


def test_enqueue_on_commit_writes_the_row_in_the_transaction_and_publishes_after_commit(
    tasks,
) -> None:
    task, event = tasks(), visit()
    with transaction.atomic():
        assert enqueue.enqueue_on_commit(task, event) == event.event_id
        assert row(event).published_at is not None  # its message follows the commit
    assert task.calls == []  # nothing before the commit
    settled()
    assert len(task.calls) == 1 and task.calls[0]["task_id"] == event.event_id


def test_the_same_event_on_commit_twice_is_published_once(tasks) -> None:
    task, event = tasks(), visit()
    for _ in range(2):
        with transaction.atomic():
            enqueue.enqueue_on_commit(task, event)
    settled()
    assert len(task.calls) == 1


def test_a_rolled_back_transaction_leaves_no_row_and_publishes_nothing(tasks) -> None:
    task, event = tasks(), visit()
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue.enqueue_on_commit(task, event)
        raise RuntimeError("the view failed")
    settled()
    assert row(event) is None and task.calls == []


def test_a_failing_publish_after_commit_never_raises_and_leaves_the_row_for_the_relay(
    tasks,
) -> None:
    event = visit()
    with transaction.atomic():
        enqueue.enqueue_on_commit(tasks("fail"), event)
    settled()
    assert row(event).status == DeliveryStatus.QUEUED and row(event).published_at is None


def test_delay_on_commit_with_the_breaker_open_keeps_the_row_for_the_relay(tasks) -> None:
    enqueue.breaker.trip(60)
    task, event = tasks(), visit()
    with transaction.atomic():
        enqueue.enqueue_on_commit(task, event)
        assert row(event).published_at is None
    settled()
    assert task.calls == [] and row(event).published_at is None


def test_an_error_after_commit_is_logged_not_raised_into_the_committing_code(
    tasks, monkeypatch, caplog
) -> None:
    def explode(task, event):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(enqueue, "_publish_later", explode)
    event = visit()
    with transaction.atomic():
        enqueue.enqueue_on_commit(tasks(), event)
    assert row(event).published_at is None  # the relay publishes it
    [record] = [r for r in caplog.records if r.name == "pushworker.enqueue"]
    assert record.levelno == logging.ERROR and record.exc_info
    assert record.delivery_id == event.event_id


def test_the_log_says_the_relay_publishes_only_when_a_row_was_kept(tasks, monkeypatch, caplog):
    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "pushworker.enqueue"]

    kept = visit()
    enqueue.enqueue(tasks("fail"), kept)
    settled()
    assert "the relay publishes the event from the outbox" in said()
    caplog.clear()
    enqueue.breaker.close()

    def refuse(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(deliveries, "insert", refuse)
    with pytest.raises(enqueue.EnqueueError):
        enqueue.enqueue(tasks("fail"), visit())
    assert not [m for m in said() if "relay" in m], said()


def test_a_failed_outbox_write_never_breaks_the_callers_transaction(tasks, monkeypatch) -> None:
    # Issue #7: a DataError from the outbox insert used to reach the caller's transaction.
    from django.db import DataError

    def refuse(*args, **kwargs):
        raise DataError("invalid byte sequence for encoding UTF8: 0x00")

    monkeypatch.setattr(deliveries, "insert", refuse)
    task, event = tasks(), visit()
    with transaction.atomic():
        assert enqueue.enqueue_on_commit(task, event) == event.event_id
        Delivery.objects.count()  # the transaction is still usable
    assert len(task.calls) == 1  # published after commit, without the lost outbox row
    assert row(event) is None


def test_delay_on_commit_returns_the_event_id(monkeypatch) -> None:
    from pushworker.tasks import send_goods_visit

    monkeypatch.setattr(enqueue, "send", lambda task, event, headers: None)
    with transaction.atomic():
        event_id = send_goods_visit.delay_on_commit(
            owner_id="42", visitor_id=None, goods_id="1", goods_name="碗"
        )
    kept = row(GoodsVisit.from_call("42", None, "1", "碗", event_id=event_id))
    assert kept.payload["visitor_id"] is None
    settled()


def test_enqueue_on_commit_outside_a_transaction_enqueues_at_once(tasks) -> None:
    task, event = tasks(), visit()
    enqueue.enqueue_on_commit(task, event)
    assert row(event).published_at is not None
    settled()
    assert len(task.calls) == 1


def test_on_failure_mode_inside_a_transaction_writes_nothing_until_commit(tasks, configure) -> None:
    configure(**CREDENTIALS, **FAST, PUSHWORKER_ENQUEUE_OUTBOX="on-failure")
    ok, failing = tasks(), tasks("fail")
    first, second = visit(), visit()
    with transaction.atomic():
        enqueue.enqueue_on_commit(ok, first)
        assert row(first) is None and ok.calls == []
    assert len(ok.calls) == 1 and row(first) is None
    enqueue.breaker.close()
    with transaction.atomic():
        enqueue.enqueue_on_commit(failing, second)
    assert row(second).published_at is None


@pytest.mark.django_db  # the test's own transaction, which never commits: callbacks captured
def test_on_commit_callbacks_run_only_when_the_outer_transaction_commits(
    tasks, django_capture_on_commit_callbacks
) -> None:
    task, event = tasks(), visit()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enqueue.enqueue_on_commit(task, event)
        assert task.calls == []
    settled()
    assert len(callbacks) == 1 and len(task.calls) == 1


class SlowWrites:
    """A clock for ``enqueue`` that jumps past the budget while the row is written (a database
    waiting on a lock), and the outbox write that makes it jump."""

    def __init__(self, monkeypatch, budget: float, fails: bool = False) -> None:
        self.now = 1000.0
        real = deliveries.insert

        def slow_insert(*args, **kwargs):
            self.now += budget * 2
            if fails:
                raise DatabaseError("database is locked")
            return real(*args, **kwargs)

        monkeypatch.setattr(enqueue, "time", type("Clock", (), {"monotonic": lambda _: self.now})())
        monkeypatch.setattr(deliveries, "insert", slow_insert)


def test_a_slow_outbox_write_does_not_eat_the_brokers_budget(tasks, monkeypatch, settings_):
    SlowWrites(monkeypatch, settings_.enqueue_budget_seconds)
    task, event = tasks(), visit()
    with transaction.atomic():  # where the caller waits for the publish
        enqueue.enqueue(task, event)
    # The publish had its budget: no breaker tripped, no message left to the relay.
    assert row(event).published_at is not None and enqueue.breaker.allows()
    assert len(task.calls) == 1


def test_a_failed_outbox_write_after_a_lock_wait_still_publishes_the_event(
    tasks, monkeypatch, settings_
):
    SlowWrites(monkeypatch, settings_.enqueue_budget_seconds, fails=True)
    task, event = tasks(), visit()
    assert enqueue.enqueue(task, event) == event.event_id  # not EnqueueError: Redis took it
    assert len(task.calls) == 1 and enqueue.breaker.allows()


def test_a_failed_publish_says_broker_unavailable_only_when_redis_could_not_be_reached(
    tasks, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="pushworker.enqueue")
    assert enqueue.publish(tasks("refuse"), visit()) is False
    enqueue.breaker.close()
    assert enqueue.publish(tasks("fail"), visit()) is False
    said = [(r.getMessage(), r.problem) for r in caplog.records if hasattr(r, "problem")]
    assert said == [
        ("publish failed", "ValueError: soft_time_limit must be less than or equal to time_limit"),
        (
            "broker unavailable",
            "ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.",
        ),
    ]


def test_a_background_publish_celery_refuses_says_publish_failed_and_goes_to_the_relay(
    tasks, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="pushworker.enqueue")
    event = visit()
    enqueue.enqueue(tasks("refuse"), event)
    settled()
    said = [(r.getMessage(), r.problem) for r in caplog.records if hasattr(r, "problem")]
    assert said == [
        ("publish failed", "ValueError: soft_time_limit must be less than or equal to time_limit")
    ]
    assert row(event).published_at is None
