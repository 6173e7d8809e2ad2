"""Specifies store.outbox: exactly which deliveries the relay and the sweeper republish."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pushworker.events import GoodsVisit
from pushworker.store import deliveries, outbox
from pushworker.store.deliveries import Failure, Parked
from pushworker.store.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db

STALE, LEASE = 120.0, 30.0


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def delivery(status: str = DeliveryStatus.QUEUED, **fields) -> Delivery:
    """A delivery row; timestamps such as ``updated_at`` are written after the auto fields."""
    made = Delivery.objects.create(
        kind="goods_visit",
        next_attempt_at=timezone.now(),  # as written: due at once, were it left to a drain
        app_name="qqc",
        recipient_id="42",
        subject_id="1001",
        payload={"visitor_id": "7", "goods_id": "1001", "goods_name": "二手自行车"},
        status=status,
    )
    if fields:
        Delivery.objects.filter(pk=made.pk).update(**fields)
        made.refresh_from_db()
    return made


def pks(rows) -> set[int]:
    return {row.pk for row in rows}


def test_waiting_selects_queued_rows_the_broker_never_took_and_retries_that_are_due() -> None:
    never = delivery(published_at=None)
    due = delivery(DeliveryStatus.RETRYING, published_at=None, next_attempt_at=ago(1))
    delivery(published_at=timezone.now())
    later = timezone.now() + timedelta(seconds=30)
    delivery(DeliveryStatus.RETRYING, published_at=None, next_attempt_at=later)
    for status in (
        DeliveryStatus.FAILED,
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.DEAD,
    ):
        delivery(status, published_at=None)
    assert pks(outbox.waiting(100)) == {never.pk, due.pk}


def test_waiting_leaves_queued_rows_younger_than_the_relay_interval_to_their_drain() -> None:
    old = delivery(published_at=None, next_attempt_at=ago(5))
    delivery(published_at=None)
    assert pks(outbox.waiting(100, older_than=2)) == {old.pk}


def test_waiting_returns_the_urgent_then_the_longest_due_first_up_to_the_limit() -> None:
    rows = [delivery(published_at=None, next_attempt_at=ago(100 - n)) for n in range(5)]
    urgent = delivery(published_at=None, priority=1)
    assert [d.pk for d in outbox.waiting(3)] == [urgent.pk] + [d.pk for d in rows[:2]]


def stuck() -> set[int]:
    return pks(outbox.stuck(stale_after=STALE, lease=LEASE, limit=100))


def test_a_queued_row_published_longer_ago_than_stale_after_is_stuck() -> None:
    lost = delivery(published_at=ago(STALE + 1))
    delivery(published_at=ago(STALE - 5))
    delivery(published_at=None)  # the relay's, not the sweeper's
    assert stuck() == {lost.pk}


def test_a_sending_row_is_stuck_only_once_its_claim_and_last_update_are_old() -> None:
    dead_worker = delivery(
        DeliveryStatus.SENDING, claimed_at=ago(LEASE + STALE + 1), updated_at=ago(STALE + 1)
    )
    delivery(DeliveryStatus.SENDING, claimed_at=ago(5), updated_at=ago(5))
    delivery(DeliveryStatus.SENDING, claimed_at=ago(LEASE + STALE - 5), updated_at=ago(STALE + 1))
    delivery(DeliveryStatus.SENDING, claimed_at=ago(LEASE + STALE + 1), updated_at=ago(5))
    assert stuck() == {dead_worker.pk}


def test_a_published_retry_is_stuck_when_its_message_is_overdue_by_stale_after() -> None:
    published = ago(STALE + 1)
    overdue = delivery(
        DeliveryStatus.RETRYING, next_attempt_at=ago(STALE + 1), published_at=published
    )
    delivery(DeliveryStatus.RETRYING, next_attempt_at=ago(STALE - 5), published_at=published)
    later = timezone.now() + timedelta(seconds=30)
    delivery(DeliveryStatus.RETRYING, next_attempt_at=later, published_at=published)
    # A waiting row has no message to lose: the relay hands it on when due.
    delivery(DeliveryStatus.RETRYING, next_attempt_at=ago(STALE + 1), published_at=None)
    assert stuck() == {overdue.pk}


def test_finished_rows_are_never_stuck() -> None:
    long_ago = ago(10 * STALE)
    for status in (
        DeliveryStatus.SENT,
        DeliveryStatus.SUPPRESSED,
        DeliveryStatus.FAILED,
        DeliveryStatus.DEAD,
    ):
        delivery(
            status,
            published_at=long_ago,
            claimed_at=long_ago,
            updated_at=long_ago,
            next_attempt_at=long_ago,
        )
    assert stuck() == set()


def test_stuck_returns_the_least_recently_updated_first_up_to_the_limit() -> None:
    rows = [delivery(published_at=ago(STALE + 10), updated_at=ago(1000 - n)) for n in range(4)]
    found = outbox.stuck(stale_after=STALE, lease=LEASE, limit=2)
    assert [d.pk for d in found] == [d.pk for d in rows[:2]]


def test_mark_published_starts_a_new_staleness_period_per_status() -> None:
    queued = delivery(published_at=None)
    retrying = delivery(DeliveryStatus.RETRYING, next_attempt_at=ago(1), published_at=None)
    claimed_at = ago(LEASE + STALE + 1)
    sending = delivery(DeliveryStatus.SENDING, claimed_at=claimed_at, updated_at=ago(STALE + 1))
    sent = delivery(DeliveryStatus.SENT, published_at=None)
    before = timezone.now()
    outbox.mark_published([queued, retrying, sending, sent])
    for row in (queued, retrying, sending, sent):
        row.refresh_from_db()
    assert queued.published_at >= before
    assert retrying.published_at >= before and retrying.next_attempt_at >= before
    assert sending.updated_at >= before
    assert sending.claimed_at == claimed_at  # the republished message must find the claim expired
    assert sent.published_at is None
    assert stuck() == set() and outbox.waiting(10) == []


def test_event_of_rebuilds_the_event_the_row_was_made_from() -> None:
    event = GoodsVisit.from_call(
        owner_id=42,
        visitor_id=7,
        goods_id=1001,
        goods_name="车",
        visitor_name="小明",
        app_name="qqc",
        event_id=uuid.uuid4(),
    )
    row = Delivery.objects.create(
        kind="goods_visit",
        event_id=event.event_id,
        app_name="qqc",
        recipient_id="42",
        subject_id="1001",
        payload={"visitor_id": "7", "goods_id": "1001", "goods_name": "车", "visitor_name": "小明"},
    )
    assert outbox.event_of(row) == event
    assert GoodsVisit.from_call(**outbox.event_of(row).as_kwargs()) == event


def test_event_of_gives_none_for_an_empty_visitor_name() -> None:
    assert outbox.event_of(delivery()).visitor_name is None


def test_mark_published_leaves_a_row_a_drain_parked_again_after_the_relay_read_it() -> None:
    # The relay reads a due retry; before it marks it published, a drain claims it, the request
    # fails and the row is parked again, due later, no message carrying it. Marking it published
    # now would hide it from every drain (and the sweeper would republish it as lost).
    row = delivery(DeliveryStatus.RETRYING, next_attempt_at=ago(1), published_at=None)
    [read] = outbox.waiting(10)
    [claimed] = deliveries.claim_due("a-drain", 10)
    later = timezone.now() + timedelta(seconds=30)
    deliveries.park([Parked(claimed, Failure("transient", "HTTP 503"), later, spent=True)])
    outbox.mark_published([read])
    row.refresh_from_db()
    assert row.published_at is None and row.next_attempt_at == later
