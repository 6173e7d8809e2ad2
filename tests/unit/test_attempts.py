"""Specifies store.attempts: one row per event per request, written before it; what earlier runs
did, by target."""

from __future__ import annotations

import pytest

from pushworker.events import GoodsVisit
from pushworker.store import attempts, deliveries
from pushworker.store.deliveries import Failure
from pushworker.store.models import AttemptStatus, Delivery, DeliveryAttempt, DeliveryStatus
from tests.support import rows

pytestmark = pytest.mark.django_db


def delivery() -> Delivery:
    event = GoodsVisit.from_call(owner_id="42", visitor_id="7", goods_id="1001", goods_name="碗")
    made = deliveries.ensure(event, "qqc")
    Delivery.objects.filter(pk=made.pk).update(status=DeliveryStatus.SENDING)
    made.refresh_from_db()
    return made


def start(row: Delivery, *, targets: str, **unit: str) -> DeliveryAttempt:
    return rows.attempt(row, targets=targets, **unit)


def history(row: Delivery) -> attempts.History:
    row.attempts = 1  # as the run that made the requests counted them when it ended
    return attempts.histories([row])[row.pk]


def test_start_attempt_records_the_request_before_it_is_made() -> None:
    row = delivery()
    attempt = start(
        row,
        key="android/production/alias:QQC_42",
        platform="android",
        environment="production",
        target_type="alias",
        targets="QQC_42",
    )
    assert attempt.status == AttemptStatus.SENDING
    attempts.sent(rows.request(attempt), message_id="alm1", trace_id="Xlm1", http_status=200)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.message_id, attempt.finished_at is not None) == (
        "sent",
        "alm1",
        True,
    )
    assert history(row).sent == {"android/production/alias:QQC_42"}


def test_a_failed_attempt_keeps_xiaomis_answer() -> None:
    row = delivery()
    attempt = start(
        row, key="k", platform="ios", environment="sandbox", target_type="regid", targets="r1"
    )
    attempts.failed(rows.request(attempt), Failure("transient", "x" * 3000, 10001, "Xlm9", 200))
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_code, attempt.error_category) == (
        "failed",
        10001,
        "transient",
    )
    assert len(attempt.error_reason) == 2000 and attempt.trace_id == "Xlm9"
    assert history(row).sent == set()


def test_unfinished_and_maybe_delivered_attempts_are_unknown_and_their_keys_returned() -> None:
    row = delivery()
    done = start(
        row, key="b", platform="android", environment="production", target_type="regid", targets="r"
    )
    attempts.sent(rows.request(done), message_id="m", trace_id="t", http_status=200)
    timed_out = start(
        row, key="c", platform="ios", environment="production", target_type="alias", targets="t"
    )
    attempts.failed(
        rows.request(timed_out), Failure("transient", "read_timeout"), maybe_delivered=True
    )
    refused = start(
        row, key="d", platform="ios", environment="sandbox", target_type="alias", targets="t"
    )
    attempts.failed(rows.request(refused), Failure("transient", "http 503"))
    # A run holds one request open at a time: the last one, cut by the worker's death.
    open_one = start(
        row, key="a", platform="android", environment="production", target_type="alias", targets="t"
    )
    # By target: what Xiaomi took is never requested again, what it may have got is flagged.
    assert history(row) == attempts.History(
        sent={"android/production/regid:r"},
        maybe_sent={"android/production/alias:t", "ios/production/alias:t"},
        message_id="m",
        trace_id="t",
    )
    open_one.refresh_from_db()
    assert open_one.status == AttemptStatus.UNKNOWN
    assert history(row).maybe_sent == {  # remembered for later runs
        "android/production/alias:t",
        "ios/production/alias:t",
    }


def test_a_row_that_never_made_a_request_costs_no_history_query() -> None:
    row = delivery()
    assert attempts.histories([row]) == {}
