"""``pushworker stats``: outcomes, Xiaomi's codes, the outbox backlog and dead letters."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pushworker import cli
from pushworker.store import stats
from pushworker.store.models import DeadLetter, Delivery, DeliveryAttempt

pytestmark = pytest.mark.django_db


def delivery(status: str, app: str = "qqc", **fields) -> Delivery:
    return Delivery.objects.create(
        event_id=uuid.uuid4(),
        app_name=app,
        recipient_id="1",
        subject_id="g",
        payload={"goods_name": "碗"},
        status=status,
        **fields,
    )


def attempt(row: Delivery, platform: str, status: str, code: int | None = None, category=""):
    return DeliveryAttempt.objects.create(
        delivery=row,
        group_key="k",
        platform=platform,
        environment="production",
        target_type="alias",
        targets="QQC_1",
        status=status,
        error_code=code,
        error_category=category,
    )


def test_counts_by_app_status_platform_and_code_backlog_and_dead_letters() -> None:
    now = timezone.now()
    sent = delivery("sent", finished_at=now)
    attempt(sent, "android", "sent")
    attempt(delivery("sent", finished_at=now), "android", "sent")
    refused = delivery("failed", finished_at=now)
    attempt(refused, "ios", "failed", 21301, "configuration")
    attempt(delivery("dead", app="other", finished_at=now), "android", "failed", None, "transient")
    delivery("failed", finished_at=now - timedelta(hours=3))  # outside the window
    delivery("queued", published_at=None)  # the relay's backlog
    delivery("queued", published_at=now)  # published: not backlog
    DeadLetter.objects.create(reason="not a task message", task_name="", task_id="")

    numbers = stats.collect(timedelta(hours=1))
    assert numbers["outcomes"] == [("other", "dead", 1), ("qqc", "failed", 1), ("qqc", "sent", 2)]
    assert numbers["xiaomi"] == [
        ("other", "android", "transient", 1),
        ("qqc", "android", "0", 2),
        ("qqc", "ios", "21301", 1),
    ]
    assert numbers["outbox_pending"] == 1
    assert numbers["dead_letters"] == numbers["dead_letters_total"] == 1
    text = stats.report(timedelta(hours=1))
    assert "qqc\tios\t21301\t1" in text and "outbox backlog (queued, not yet published): 1" in text


def test_the_report_names_its_units_attempt_rows_not_http_requests() -> None:
    text = stats.report(timedelta(hours=1))
    assert "deliveries that ended, one per event" in text
    assert "xiaomi answers in attempt rows" in text and "counts HTTP requests" in text


@pytest.mark.parametrize("text", ["1h", "15m", "90s", "7d"])
def test_windows(text: str) -> None:
    assert stats.window(text) > timedelta(0)


def test_a_bad_window_is_a_clear_error(capsys) -> None:
    assert cli.main(["stats", "--since", "yesterday"]) == 2
    assert "--since must look like" in capsys.readouterr().err
