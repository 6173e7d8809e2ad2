"""Delivery receipts end to end: a real worker sends with ``extra.callback``, the emulator POSTs
Xiaomi's receipt to ``pushworker web`` (gunicorn, real HTTP), which records the delivery."""

from __future__ import annotations

import secrets

import pytest

from tests.integration.test_web import start
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow
TOKEN = secrets.token_urlsafe(32)


def test_the_emulators_receipts_reach_pushworker_web_and_record_delivery(clean_stack) -> None:
    from pushworker.store.models import Delivery, PushDevice
    from pushworker.tasks import send_goods_visit

    stack = clean_stack
    receipts = {"PUSHWORKER_RECEIPTS_TOKEN": TOKEN}
    # The endpoint checks only the token; the URL it is told is what workers put in messages.
    web = start(
        {**stack.env, **receipts, "PUSHWORKER_RECEIPTS_URL": "http://127.0.0.1/api/v1/receipts"},
        stack.tmp,
        "receipts",
    )
    try:
        callback = {"PUSHWORKER_RECEIPTS_URL": f"{web.url}/api/v1/receipts"}
        stack.worker("receipts", env=receipts | callback)
        PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
        PushDevice.objects.create(user_id="42", app_name="qqc", os_type="ios")
        visit = {"visitor_id": "7", "goods_id": "g-1", "goods_name": "碗", "visitor_name": "小明"}
        event_id = send_goods_visit.delay(owner_id="42", **visit).id
        # A receipt may come before the worker has recorded its answer, as with Xiaomi.
        done = Delivery.objects.filter(event_id=event_id, status="sent", delivered_at__isnull=False)
        row = wait_for(done.first, 60, message="the sent delivery's receipt to be recorded")
        assert row.clicked_at is None
        for message in stack.emulator.messages():
            assert message["fields"]["extra.callback.param"] == event_id
        wait_for(lambda: "/api/v1/receipts/" in web.log(), 30, message="a receipt in the log")
    finally:
        web.stop()
    assert TOKEN not in web.log()  # the access log masks the token
