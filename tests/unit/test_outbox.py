"""Specifies store.outbox: exactly which deliveries the relay and the sweeper republish."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pushworker.events import GoodsVisit
from pushworker.store import outbox
from pushworker.store.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db

STALE, LEASE = 120.0, 30.0


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def delivery(status: str = DeliveryStatus.QUEUED, **fields) -> Delivery:
    """A delivery row; timestamps such as ``updated_at`` are written after the auto fields."""
    made = Delivery.objects.create(
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


def test_unpublished_selects_queued_rows_the_broker_never_took() -> None:
    never = delivery(published_at=None)
    delivery(published_at=timezone.now())
    for status in (
        DeliveryStatus.FAILED,
        DeliveryStatus.SENDING,
        DeliveryStatus.RETRYING,
        DeliveryStatus.SENT,
        DeliveryStatus.DEAD,
    ):
        delivery(status, published_at=None)
    assert pks(outbox.unpublished(100)) == {never.pk}


def test_unpublished_returns_the_oldest_first_up_to_the_limit() -> None:
    rows = [delivery(published_at=None, created_at=ago(100 - n)) for n in range(5)]
    assert [d.pk for d in outbox.unpublished(3)] == [d.pk for d in rows[:3]]


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


def test_a_retrying_row_is_stuck_when_its_retry_is_overdue_by_stale_after() -> None:
    overdue = delivery(DeliveryStatus.RETRYING, next_attempt_at=ago(STALE + 1))
    delivery(DeliveryStatus.RETRYING, next_attempt_at=ago(STALE - 5))
    delivery(DeliveryStatus.RETRYING, next_attempt_at=timezone.now() + timedelta(seconds=30))
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
    retrying = delivery(DeliveryStatus.RETRYING, next_attempt_at=ago(STALE + 1))
    claimed_at = ago(LEASE + STALE + 1)
    sending = delivery(DeliveryStatus.SENDING, claimed_at=claimed_at, updated_at=ago(STALE + 1))
    sent = delivery(DeliveryStatus.SENT, published_at=None)
    before = timezone.now()
    outbox.mark_published([queued, retrying, sending, sent])
    for row in (queued, retrying, sending, sent):
        row.refresh_from_db()
    assert queued.published_at >= before
    assert retrying.next_attempt_at >= before
    assert sending.updated_at >= before
    assert sending.claimed_at == claimed_at  # the republished message must find the claim expired
    assert sent.published_at is None
    assert stuck() == set() and outbox.unpublished(10) == []


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
