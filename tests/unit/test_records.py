"""Specifies pushworker.store.records: each state transition is one conditional write."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pushworker.events import GoodsVisit
from pushworker.store import outbox, records
from pushworker.store.models import (
    AttemptStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)
from pushworker.store.records import Failure

pytestmark = pytest.mark.django_db

LEASE = 30.0


def visit(**changes) -> GoodsVisit:
    args = {"owner_id": "42", "visitor_id": "7", "goods_id": "1001", "goods_name": "二手自行车"}
    return GoodsVisit.from_call(**(args | changes))


def delivery(status: str = DeliveryStatus.QUEUED, **fields) -> Delivery:
    made = records.ensure(visit(), "qqc")[0]
    Delivery.objects.filter(pk=made.pk).update(status=status, **fields)
    made.refresh_from_db()
    return made


def claimed_ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_ensure_creates_the_row_the_enqueuing_process_did_not_write() -> None:
    event = visit(visitor_name="小明")
    made = records.ensure(event, "qqc")[0]
    assert str(made.event_id) == event.event_id
    assert (made.status, made.app_name, made.payload["visitor_name"]) == ("queued", "qqc", "小明")
    assert made.published_at is not None  # it came through the broker


def test_ensure_returns_the_existing_row_unchanged() -> None:
    event = visit()
    first = records.ensure(event, "qqc")[0]
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.SENT)
    assert records.ensure(event, "other")[0].status == DeliveryStatus.SENT
    assert Delivery.objects.count() == 1


def test_claim_takes_a_queued_delivery_for_this_run() -> None:
    row = delivery()
    assert records.claim(row, redelivered=False, lease_seconds=LEASE)
    assert row.status == DeliveryStatus.SENDING and row.claimed_at is not None
    assert row.crashes == 0 and not row.redelivered


def test_claim_takes_a_retrying_delivery() -> None:
    row = delivery(DeliveryStatus.RETRYING)
    assert records.claim(row, redelivered=False, lease_seconds=LEASE)
    assert row.status == DeliveryStatus.SENDING


def test_claim_refuses_a_fresh_claim_of_another_run() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=claimed_ago(LEASE - 5))
    assert not records.claim(row, redelivered=False, lease_seconds=LEASE)
    row.refresh_from_db()
    assert row.crashes == 0 and row.claimed_at < claimed_ago(LEASE - 6)


def test_claim_takes_over_a_claim_older_than_the_lease_and_counts_a_crash() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=claimed_ago(LEASE + 5), crashes=1)
    assert records.claim(row, redelivered=False, lease_seconds=LEASE)
    assert row.crashes == 2 and row.status == DeliveryStatus.SENDING
    assert row.claimed_at > claimed_ago(5)


def test_a_redelivered_message_takes_over_even_a_fresh_claim_and_says_so() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=claimed_ago(1))
    assert records.claim(row, redelivered=True, lease_seconds=LEASE)
    assert row.crashes == 1 and row.redelivered


def test_a_redelivered_queued_delivery_is_taken_without_a_crash() -> None:
    row = delivery()
    assert records.claim(row, redelivered=True, lease_seconds=LEASE)
    assert row.crashes == 0 and row.redelivered


@pytest.mark.parametrize(
    "status",
    [DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED, DeliveryStatus.FAILED, DeliveryStatus.DEAD],
)
def test_a_finished_delivery_is_never_claimed(status: str) -> None:
    row = delivery(status, claimed_at=claimed_ago(3600))
    assert not records.claim(row, redelivered=True, lease_seconds=LEASE)
    row.refresh_from_db()
    assert row.status == status and row.crashes == 0


def test_a_claim_made_from_a_stale_copy_of_the_row_loses() -> None:
    # Both copies were read while the row was queued; the second claim must not trust its copy.
    # Claims racing in parallel: tests/integration/test_claims.py (threads, real database).
    row = delivery()
    twin = Delivery.objects.get(pk=row.pk)
    assert records.claim(row, redelivered=False, lease_seconds=LEASE)
    assert not records.claim(twin, redelivered=False, lease_seconds=LEASE)


def test_start_attempt_records_the_request_before_it_is_made() -> None:
    row = delivery(DeliveryStatus.SENDING)
    attempt = records.start_attempt(
        row,
        key="android/production/alias:QQC_42",
        platform="android",
        environment="production",
        target_type="alias",
        targets="QQC_42",
    )
    assert attempt.status == AttemptStatus.SENDING
    row.refresh_from_db()
    assert row.attempts == 1
    records.attempt_sent(attempt, message_id="alm1", trace_id="Xlm1", http_status=200)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.message_id, attempt.finished_at is not None) == (
        "sent",
        "alm1",
        True,
    )
    assert records.history(row).sent == {"android/production/alias:QQC_42"}


def test_a_failed_attempt_keeps_xiaomis_answer() -> None:
    row = delivery(DeliveryStatus.SENDING)
    attempt = records.start_attempt(
        row, key="k", platform="ios", environment="sandbox", target_type="regid", targets="r1"
    )
    records.attempt_failed(attempt, Failure("transient", "x" * 3000, 10001, "Xlm9", 200))
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_code, attempt.error_category) == (
        "failed",
        10001,
        "transient",
    )
    assert len(attempt.error_reason) == 2000 and attempt.trace_id == "Xlm9"
    assert records.history(row).sent == set()


def test_unfinished_and_maybe_delivered_attempts_are_unknown_and_their_keys_returned() -> None:
    row = delivery(DeliveryStatus.SENDING)
    open_one = records.start_attempt(
        row, key="a", platform="android", environment="production", target_type="alias", targets="t"
    )
    done = records.start_attempt(
        row, key="b", platform="android", environment="production", target_type="regid", targets="r"
    )
    records.attempt_sent(done, message_id="m", trace_id="t", http_status=200)
    timed_out = records.start_attempt(
        row, key="c", platform="ios", environment="production", target_type="alias", targets="t"
    )
    records.attempt_failed(timed_out, Failure("transient", "read_timeout"), maybe_delivered=True)
    refused = records.start_attempt(
        row, key="d", platform="ios", environment="sandbox", target_type="alias", targets="t"
    )
    records.attempt_failed(refused, Failure("transient", "http 503"))
    # By target: what Xiaomi took is never requested again, what it may have got is flagged.
    assert records.history(row) == records.History(
        sent={"android/production/regid:r"},
        maybe_sent={"android/production/alias:t", "ios/production/alias:t"},
    )
    open_one.refresh_from_db()
    assert open_one.status == AttemptStatus.UNKNOWN
    assert records.history(row).maybe_sent == {  # remembered for later runs
        "android/production/alias:t",
        "ios/production/alias:t",
    }


def test_finish_records_the_terminal_state_and_why() -> None:
    row = delivery(DeliveryStatus.SENDING, next_attempt_at=timezone.now())
    failure = Failure("invalid_target", "No valid targets!", 20301, "Xlm2")
    records.finish(row, DeliveryStatus.FAILED, failure=failure)
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
    records.finish(
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


def test_park_for_retry_releases_the_claim_until_the_countdown() -> None:
    row = delivery(DeliveryStatus.SENDING, claimed_at=timezone.now())
    before = timezone.now()
    records.park_for_retry(row, Failure("throttled", "too frequent", 10027, "X"), countdown=12.5)
    stored = Delivery.objects.get(pk=row.pk)
    assert stored.status == DeliveryStatus.RETRYING and stored.retries == 1
    assert before + timedelta(seconds=12) < stored.next_attempt_at
    assert stored.next_attempt_at < timezone.now() + timedelta(seconds=13)
    assert (stored.error_code, stored.error_category) == (10027, "throttled")


def test_deactivate_devices_only_touches_active_devices_it_names() -> None:
    make = PushDevice.objects.create
    one = make(user_id="42", app_name="qqc", os_type="android")
    two = make(
        user_id="42", app_name="qqc", os_type="ios", is_active=False, deactivated_reason="earlier"
    )
    # A second Android phone of the user has its own regid: one alias device per platform (0004).
    other = make(user_id="42", app_name="qqc", os_type="android", registration_id="regid-other")
    assert records.deactivate_devices((one.pk, two.pk), "Xiaomi 20301: " + "x" * 300) == 1
    for device in (one, two, other):
        device.refresh_from_db()
    assert not one.is_active and len(one.deactivated_reason) == 255
    assert two.deactivated_reason == "earlier"
    assert other.is_active


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
    row = records.reject(event_id, raw, "send_goods_visit: owner_id must be an int or a str")
    assert str(row.event_id) == event_id
    assert (row.status, row.error_category) == ("failed", "bad_request")
    assert row.error_reason.startswith("send_goods_visit: owner_id")
    assert (row.recipient_id, row.payload["visitor_id"]) == ("", "7")
    assert len(row.subject_id) == 64 and len(row.payload["goods_name"]) == 1024
    assert row.finished_at is not None and row.published_at is None


@pytest.mark.parametrize("raw_id", ["not-a-uuid", 42, None, ""])
def test_reject_keeps_a_message_whose_id_is_not_a_uuid_under_a_stable_id(raw_id) -> None:
    first = records.reject(raw_id, {}, "bad")
    second = records.reject(raw_id, {}, "bad again")
    assert first.pk == second.pk
    assert second.status == DeliveryStatus.FAILED and second.error_reason == "bad"
    assert Delivery.objects.count() == 1
    assert isinstance(first.event_id, uuid.UUID)


def test_a_malformed_copy_never_overwrites_the_record_of_a_real_event() -> None:
    event_id = str(uuid.uuid4())
    Delivery.objects.create(
        event_id=event_id,
        app_name="qqc",
        recipient_id="1",
        subject_id="3",
        payload={"visitor_id": "2", "goods_id": "3", "goods_name": "碗"},
        status=DeliveryStatus.SENT,
    )
    row = records.reject(event_id, {"owner_id": None}, "send_goods_visit: owner_id is bad")
    assert (row.status, row.recipient_id) == (DeliveryStatus.SENT, "1")


def test_a_rejected_message_is_never_relayed() -> None:
    from pushworker.store import outbox

    records.reject("bad-id", {}, "bad")
    assert outbox.unpublished(10) == []
    assert DeliveryAttempt.objects.count() == 0
