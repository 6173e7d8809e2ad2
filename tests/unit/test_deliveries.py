"""Specifies store.deliveries: each state transition of a row is one conditional write."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pushworker.events import GoodsVisit
from pushworker.store import deliveries, outbox
from pushworker.store.deliveries import Failure, Parked
from pushworker.store.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
)

pytestmark = pytest.mark.django_db

LEASE = 30.0
KIND = "goods_visit"


def visit(**changes) -> GoodsVisit:
    args = {"owner_id": "42", "visitor_id": "7", "goods_id": "1001", "goods_name": "二手自行车"}
    return GoodsVisit.from_call(**(args | changes))


def delivery(status: str = DeliveryStatus.QUEUED, **fields) -> Delivery:
    made = deliveries.ensure(visit(), "qqc")
    Delivery.objects.filter(pk=made.pk).update(status=status, **fields)
    made.refresh_from_db()
    return made


def claimed_ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_ensure_creates_the_row_the_enqueuing_process_did_not_write() -> None:
    event = visit(visitor_name="小明")
    made = deliveries.ensure(event, "qqc")
    assert str(made.event_id) == event.event_id
    assert (made.status, made.app_name, made.payload["visitor_name"]) == ("queued", "qqc", "小明")
    assert made.published_at is not None  # it came through the broker


def test_ensure_returns_the_existing_row_unchanged() -> None:
    event = visit()
    first = deliveries.ensure(event, "qqc")
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.SENT)
    assert deliveries.ensure(event, "other").status == DeliveryStatus.SENT
    assert Delivery.objects.count() == 1


def test_claim_takes_a_queued_delivery_for_this_run() -> None:
    row = delivery()
    assert deliveries.claim(row, redelivered=False, lease_seconds=LEASE)
    assert row.status == DeliveryStatus.SENDING and row.claimed_at is not None
    assert row.crashes == 0 and not row.redelivered


def test_claim_takes_a_retrying_delivery() -> None:
    row = delivery(DeliveryStatus.RETRYING)
    assert deliveries.claim(row, redelivered=False, lease_seconds=LEASE)
    assert row.status == DeliveryStatus.SENDING


def test_claim_refuses_a_fresh_claim_of_another_run() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=claimed_ago(LEASE - 5))
    assert not deliveries.claim(row, redelivered=False, lease_seconds=LEASE)
    row.refresh_from_db()
    assert row.crashes == 0 and row.claimed_at < claimed_ago(LEASE - 6)


def test_claim_takes_over_a_claim_older_than_the_lease_and_counts_a_crash() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=claimed_ago(LEASE + 5), crashes=1)
    assert deliveries.claim(row, redelivered=False, lease_seconds=LEASE)
    assert row.crashes == 2 and row.status == DeliveryStatus.SENDING
    assert row.claimed_at > claimed_ago(5)


def test_a_redelivered_message_takes_over_even_a_fresh_claim_and_says_so() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=claimed_ago(1))
    assert deliveries.claim(row, redelivered=True, lease_seconds=LEASE)
    assert row.crashes == 1 and row.redelivered


def test_a_redelivered_queued_delivery_is_taken_without_a_crash() -> None:
    row = delivery()
    assert deliveries.claim(row, redelivered=True, lease_seconds=LEASE)
    assert row.crashes == 0 and row.redelivered


@pytest.mark.parametrize(
    "status",
    [DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED, DeliveryStatus.FAILED, DeliveryStatus.DEAD],
)
def test_a_finished_delivery_is_never_claimed(status: str) -> None:
    row = delivery(status, claimed_at=claimed_ago(3600))
    assert not deliveries.claim(row, redelivered=True, lease_seconds=LEASE)
    row.refresh_from_db()
    assert row.status == status and row.crashes == 0


def test_a_claim_made_from_a_stale_copy_of_the_row_loses() -> None:
    # Both copies were read while the row was queued; the second claim must not trust its copy.
    # Claims racing in parallel: tests/integration/test_claims.py (threads, real database).
    row = delivery()
    twin = Delivery.objects.get(pk=row.pk)
    assert deliveries.claim(row, redelivered=False, lease_seconds=LEASE)
    assert not deliveries.claim(twin, redelivered=False, lease_seconds=LEASE)


def test_finish_records_the_terminal_state_and_why() -> None:
    row = delivery(DeliveryStatus.SENDING, next_attempt_at=timezone.now())
    failure = Failure("invalid_target", "No valid targets!", 20301, "Xlm2")
    deliveries.finish(row, DeliveryStatus.FAILED, failure=failure)
    stored = Delivery.objects.get(pk=row.pk)
    assert (stored.status, stored.error_code, stored.error_category, stored.trace_id) == (
        "failed",
        20301,
        "invalid_target",
        "Xlm2",
    )
    assert stored.finished_at is not None and stored.next_attempt_at is None
    assert row.status == DeliveryStatus.FAILED  # the caller's copy follows


def test_finish_keeps_the_sent_message_ids_over_a_failures_trace() -> None:
    row = delivery(DeliveryStatus.SENDING)
    deliveries.finish(
        row,
        DeliveryStatus.SENT,
        failure=Failure("configuration", "no ios", None, "X0"),
        message_id="alm1",
        trace_id="Xlm1",
    )
    stored = Delivery.objects.get(pk=row.pk)
    assert (stored.message_id, stored.trace_id, stored.error_category) == (
        "alm1",
        "Xlm1",
        "configuration",
    )


def test_park_releases_the_claim_and_the_row_waits_for_a_drain_until_its_due_time() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=timezone.now(), published_at=timezone.now())
    before = timezone.now()
    failure = Failure("throttled", "too frequent", 10027, "X")
    deliveries.park([Parked(row, failure, before + timedelta(seconds=12.5), spent=True)])
    stored = Delivery.objects.get(pk=row.pk)
    assert stored.status == DeliveryStatus.RETRYING and stored.retries == 1
    assert stored.published_at is None  # no message carries it: a drain claims it when due
    assert before + timedelta(seconds=12) < stored.next_attempt_at
    assert stored.next_attempt_at < timezone.now() + timedelta(seconds=13)
    assert (stored.error_code, stored.error_category) == (10027, "throttled")


def test_requeue_puts_back_only_failed_and_dead_deliveries() -> None:
    rows = {
        status: delivery(
            status, retries=3, crashes=2, published_at=timezone.now(), finished_at=timezone.now()
        )
        for status in DeliveryStatus.values
    }
    assert outbox.requeue(Delivery.objects.all()) == 2
    for status, row in rows.items():
        row.refresh_from_db()
        if status in ("failed", "dead"):
            assert row.status == DeliveryStatus.QUEUED
            assert (row.published_at, row.finished_at, row.retries, row.crashes) == (
                None,
                None,
                0,
                0,
            )
        else:
            assert row.status == status and row.retries == 3


def test_requeue_honours_the_queryset_it_is_given() -> None:
    mine, other = delivery(DeliveryStatus.FAILED), delivery(DeliveryStatus.DEAD)
    assert outbox.requeue(Delivery.objects.filter(pk=mine.pk)) == 1
    other.refresh_from_db()
    assert other.status == DeliveryStatus.DEAD


def test_reject_records_a_bad_message_as_failed_keeping_what_it_said() -> None:
    event_id = str(uuid.uuid4())
    raw = {
        "owner_id": None,
        "visitor_id": 7,
        "goods_id": "g" * 100,
        "goods_name": "车" * 2000,
        "app_name": "qqc",
    }
    row, created = deliveries.reject(event_id, raw, "send_goods_visit: owner_id is bad", KIND)
    assert created
    assert str(row.event_id) == event_id
    assert (row.status, row.error_category) == ("failed", "bad_request")
    assert row.error_reason.startswith("send_goods_visit: owner_id")
    assert (row.recipient_id, row.payload["visitor_id"]) == ("", "7")
    assert len(row.subject_id) == 64 and len(row.payload["goods_name"]) == 1024
    assert row.finished_at is not None and row.published_at is None


@pytest.mark.parametrize("raw_id", ["not-a-uuid", 42, None, ""])
def test_reject_keeps_a_message_whose_id_is_not_a_uuid_under_a_stable_id(raw_id) -> None:
    first, _ = deliveries.reject(raw_id, {}, "bad", KIND)
    second, created = deliveries.reject(raw_id, {}, "bad again", KIND)
    assert not created
    assert first.pk == second.pk
    assert second.status == DeliveryStatus.FAILED and second.error_reason == "bad"
    assert Delivery.objects.count() == 1
    assert isinstance(first.event_id, uuid.UUID)


def test_a_malformed_copy_never_overwrites_the_record_of_a_real_event() -> None:
    event_id = str(uuid.uuid4())
    Delivery.objects.create(
        event_id=event_id,
        kind=KIND,
        app_name="qqc",
        recipient_id="1",
        subject_id="3",
        payload={"visitor_id": "2", "goods_id": "3", "goods_name": "碗"},
        status=DeliveryStatus.SENT,
    )
    row, _ = deliveries.reject(event_id, {"owner_id": None}, "send_goods_visit: bad", KIND)
    assert (row.status, row.recipient_id) == (DeliveryStatus.SENT, "1")


def test_a_rejected_message_is_never_relayed() -> None:
    from pushworker.store import outbox

    deliveries.reject("bad-id", {}, "bad", KIND)
    assert outbox.waiting(10) == []
    assert DeliveryAttempt.objects.count() == 0


COMPARED = (
    "kind",
    "app_name",
    "recipient_id",
    "subject_id",
    "payload",
    "status",
    "attempts",
    "crashes",
    "retries",
    "claimed_by",
    "possible_duplicate",
    "redelivered",
    "message_id",
    "trace_id",
    "error_code",
    "error_category",
    "error_reason",
    "claimed_at",
    "finished_at",
    "priority",
)


def test_insert_writes_a_new_event_in_one_statement_that_reads_back_as_the_orms_row() -> None:
    event, twin = visit(visitor_name="小明"), visit(visitor_name="小明")
    with CaptureQueriesContext(connection) as queries:
        assert deliveries.insert(event, "qqc", published=True) is True
    assert len(queries) == 1
    Delivery.objects.create(
        event_id=twin.event_id,
        kind=twin.kind,
        app_name="qqc",
        recipient_id=twin.recipient_id,
        subject_id=twin.subject_id,
        payload=twin.payload(),
    )
    ours, orms = (Delivery.objects.get(event_id=e.event_id) for e in (event, twin))
    assert str(ours.event_id) == event.event_id
    assert {f: getattr(ours, f) for f in COMPARED} == {f: getattr(orms, f) for f in COMPARED}
    assert ours.published_at is not None and ours.created_at == ours.updated_at
    assert ours.next_attempt_at == ours.created_at  # were it left to a drain, due at once
    assert ours.status == DeliveryStatus.QUEUED


def test_an_unpublished_event_waits_with_no_publish_time() -> None:
    event = visit()
    deliveries.insert(event, "qqc", published=False)
    assert Delivery.objects.get(event_id=event.event_id).published_at is None


def test_a_duplicate_leaves_the_existing_row_as_it_is() -> None:
    event = visit()
    assert deliveries.insert(event, "qqc", published=True) is True
    Delivery.objects.filter(event_id=event.event_id).update(status=DeliveryStatus.SENT)
    assert deliveries.insert(event, "other", published=False) is False
    kept = Delivery.objects.get(event_id=event.event_id)
    assert (kept.status, kept.app_name) == (DeliveryStatus.SENT, "qqc")
    assert kept.published_at is not None
    assert Delivery.objects.count() == 1


def test_text_a_database_refuses_is_stored_as_the_event_cleaned_it() -> None:
    # NUL (PostgreSQL refuses it in text and JSON) and lone surrogates (no UTF-8) arrive from
    # JSON bodies; the event's checks clean names, and the row keeps exactly those.
    event = visit(goods_name="bike\x00 \ud83d", visitor_name="\x00bob")
    assert deliveries.insert(event, "qqc", published=True) is True
    kept = Delivery.objects.get(event_id=event.event_id)
    assert kept.payload["goods_name"] == event.goods_name
    assert kept.payload["visitor_name"] == event.visitor_name
    assert "\x00" not in json_text(kept.payload)


def test_an_event_id_given_by_the_caller_is_kept_as_given() -> None:
    given = str(uuid.uuid4())
    event = visit(event_id=given)
    deliveries.insert(event, "qqc", published=True)
    assert Delivery.objects.filter(event_id=given).exists()


def json_text(payload: dict) -> str:
    import json

    return json.dumps(payload, ensure_ascii=False)
