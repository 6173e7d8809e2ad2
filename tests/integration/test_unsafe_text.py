"""Accepted means recorded, whatever characters a name holds (issue #7, item 2).

NUL, other C0/C1 controls, bidi overrides and lone surrogates, walked through every place the
worker writes: the event and its delivery row, the notification, a rejected event, error reasons,
device state and dead letters. Meant for PostgreSQL (``PUSHWORKER_TEST_DATABASE_URL``), whose text
columns refuse NUL; it runs on SQLite too.
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from tests.integration.test_dead_letters import envelope
from tests.integration.test_pipeline import add_device, finished, visit
from tests.support import rows
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

UNSAFE = "碗\x00\x07\x1b[31m\x85\u202eevil\u2066\ud83d\n"
CLEANED = "碗 [31m evil\ufffd"


def assert_safe(value: str) -> None:
    assert "\x00" not in value and "\u202e" not in value
    value.encode("utf-8")  # no lone surrogate left


def test_names_with_unsafe_characters_are_cleaned_and_every_event_ends_in_a_row(warm_stack):
    from django.db import transaction

    from pushworker.store.models import Delivery
    from pushworker.tasks import send_goods_visit

    add_device("900", "android")
    add_device("900", "ios")

    by_delay = visit("900", goods_name=UNSAFE, visitor_name="\u202e\x00bob")
    with transaction.atomic():  # the caller's transaction must survive the outbox write
        by_commit = send_goods_visit.delay_on_commit(
            owner_id="900", visitor_id="v-2", goods_id="g-1", goods_name=UNSAFE
        )
    # A message written without delay(): the worker is the boundary then.
    raw = send_goods_visit.apply_async(
        kwargs={"owner_id": "900", "visitor_id": "v-3", "goods_id": "g-2", "goods_name": UNSAFE}
    ).id
    for event_id in (by_delay, by_commit, raw):
        row = finished(event_id)
        assert row.status == "sent", (row.status, row.error_reason)
        assert row.payload["goods_name"] == CLEANED
    assert Delivery.objects.get(event_id=by_delay).payload["visitor_name"] == "bob"
    for message in warm_stack.emulator.messages():
        description = message["fields"]["description"]
        assert_safe(description)
        assert CLEANED.replace("\ufffd", "") in description.replace("\ufffd", "")


def test_unusable_messages_with_unsafe_text_are_rejected_or_dead_lettered(warm_stack):
    from pushworker.store.models import DeadLetter, Delivery
    from pushworker.tasks import send_goods_visit

    add_device("901", "android")
    bad_id = send_goods_visit.apply_async(
        kwargs={"owner_id": "9\x00\u202e", "visitor_id": "v", "goods_id": "g", "goods_name": UNSAFE}
    ).id
    bad_app = send_goods_visit.apply_async(
        kwargs={
            "owner_id": "901",
            "visitor_id": "v",
            "goods_id": "g",
            "goods_name": "碗",
            "app_name": "qqc\x00",
        }
    ).id
    unknown_argument = send_goods_visit.apply_async(
        kwargs={
            "owner_id": "901",
            "visitor_id": "v",
            "goods_id": "g",
            "goods_name": "碗",
            "colour\x00": UNSAFE,
        }
    ).id
    queue = redis.Redis.from_url(warm_stack.redis.url)
    queue.lpush("pushworker", envelope("pushworker.no\x00such\ntask INFO forged", {}))
    queue.lpush("pushworker", b"\x00\xff\xfe not json")
    queue.lpush("pushworker", json.dumps({"body": "\ud800\x00"}).encode())

    for event_id, argument in (
        (bad_id, "owner_id"),
        (bad_app, "app_name"),
        (unknown_argument, "colour"),
    ):
        row = finished(event_id)
        assert (row.status, row.error_category) == ("failed", "bad_request")
        assert argument in row.error_reason
        for value in (row.recipient_id, row.payload["goods_name"], row.app_name, row.error_reason):
            assert_safe(value)
    assert finished(visit("901")).status == "sent"  # the worker kept consuming
    wait_for(lambda: DeadLetter.objects.count() >= 3, 30, message="three dead letters")
    for letter in DeadLetter.objects.all():
        for value in (letter.reason, letter.task_name, letter.task_id, letter.headers, letter.body):
            assert_safe(value)
        assert "\n" not in letter.task_name
    assert DeadLetter.objects.filter(task_name__contains="INFO forged").exists()
    assert Delivery.objects.filter(status="failed").count() == 3


def test_every_record_writer_takes_unsafe_text(warm_stack):
    """The writers the worker calls on Xiaomi's answers and on garbage, called directly."""
    from datetime import timedelta

    from django.utils import timezone

    from pushworker import events
    from pushworker.store import attempts, deadletters, deliveries, devices
    from pushworker.store.deliveries import Failure, Parked
    from pushworker.store.models import DeadLetter, Delivery, DeliveryStatus, PushDevice

    event = events.GoodsVisit.from_call("902", None, "g", UNSAFE, UNSAFE, None, str(uuid.uuid4()))
    delivery = deliveries.ensure(event, "qqc")
    attempt = rows.attempt(
        delivery,
        key="k",
        platform="android",
        environment="production",
        target_type="alias",
        targets="t",
    )
    failure = Failure("transient", UNSAFE * 300, 500, "trace\x00" * 20, 500)
    attempts.failed(rows.request(attempt), failure, maybe_delivered=True)
    due = timezone.now() + timedelta(seconds=1)
    deliveries.park([Parked(delivery, failure, due, spent=True)])
    deliveries.finish(delivery, DeliveryStatus.FAILED, failure=failure, trace_id="\x00" * 99)
    device = add_device("902", "android")
    devices.deactivate((device.pk,), UNSAFE * 50)
    raw = {"owner_id": ["\x00"], "goods_name": UNSAFE}
    deliveries.reject("\x00not-a-uuid", raw, UNSAFE, "goods_visit")
    deadletters.dead_letter(UNSAFE, None, UNSAFE.encode("utf-8", "surrogatepass"))

    stored = Delivery.objects.get(event_id=event.event_id)
    assert stored.payload["goods_name"] == CLEANED and stored.payload["visitor_name"] == CLEANED
    assert_safe(stored.error_reason)
    assert_safe(stored.attempt_set.get().error_reason)
    assert_safe(PushDevice.objects.get(pk=device.pk).deactivated_reason)
    assert Delivery.objects.filter(error_category="bad_request").count() == 1
    assert DeadLetter.objects.count() == 1
