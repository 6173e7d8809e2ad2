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


def test_forged_receipts_at_the_real_server_change_nothing_and_log_one_line_a_request(clean_stack):
    import json
    import uuid

    import httpx

    from pushworker.events import GoodsVisit
    from pushworker.store import attempts, deliveries
    from pushworker.store.models import PushDevice
    from tests.support import rows

    stack = clean_stack
    url = "http://127.0.0.1/api/v1/receipts"
    env = {**stack.env, "PUSHWORKER_RECEIPTS_TOKEN": TOKEN, "PUSHWORKER_RECEIPTS_URL": url}
    web = start({**env, "PUSHWORKER_LOG_FORMAT": "json"}, stack.tmp, "forged-receipts")
    victim = PushDevice.objects.create(
        user_id="43", app_name="qqc", os_type="android", registration_id="regid-of-43"
    )
    delivery = deliveries.ensure(GoodsVisit.from_call("42", "7", "1", "碗", "小明"), "qqc")
    attempt = rows.attempt(
        delivery,
        key="k",
        platform="android",
        environment="production",
        target_type="alias",
        targets="QQC_42",
    )
    attempts.sent(rows.request(attempt), message_id="alm-42", trace_id="X", http_status=200)
    # The case: a type-16 receipt of user 42's delivery naming user 43's regid, then a
    # flood of 14,000 receipts (2.4 MB) in one request.
    forged = {"param": str(delivery.event_id), "type": 16, "targets": "regid-of-43", "errorCode": 1}
    flood = {
        f"alm{n:019d}": {"param": str(uuid.uuid4()), "type": 16, "targets": f"regid-{n:038d}"}
        for n in range(14_000)
    }
    try:
        for entries in ({"alm-42": forged}, flood):
            answer = httpx.post(
                f"{web.url}/api/v1/receipts/{TOKEN}",
                files={"data": (None, json.dumps(entries))},  # multipart: 2.1 MB as it is
                timeout=60,
            )
            assert (answer.status_code, answer.text) == (200, "ok")
        wait_for(lambda: web.log().count('"message": "receipts"') == 2, 10, message="2 lines")
    finally:
        web.stop()
    victim.refresh_from_db()
    assert victim.is_active
    lines = [json.loads(line) for line in web.log().splitlines() if line.startswith("{")]
    receipts = [line for line in lines if line["logger"] == "pushworker.receipts"]
    assert [(r["receipts"], r.get("unmatched"), r["skipped"]) for r in receipts] == [
        (1, 1, 0),
        (14_000, 1_000, 13_000),
    ]
    assert TOKEN not in web.log()
