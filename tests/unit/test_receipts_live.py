"""The emulator posts Xiaomi-shaped receipts over real HTTP to the endpoint served by a live
Django server (pytest-django's ``live_server``), which updates the delivery and the devices."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pushworker import conf
from pushworker.delivery import content, service
from pushworker.events import GoodsVisit
from pushworker.mipush import Client, Endpoints
from pushworker.store import attempts, deliveries
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from tests.support import rows
from tests.unit.environment import ANDROID_PACKAGE, ANDROID_SECRET, emulator_env

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "live-" + "t" * 40


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def receiving(live_server, fresh_emulator, configure):
    """pushworker sending to the emulator, with receipts pointing at the live server."""
    url = f"{live_server.url}/api/v1/receipts"
    configure(
        **emulator_env(fresh_emulator, PUSHWORKER_RECEIPTS_URL=url, PUSHWORKER_RECEIPTS_TOKEN=TOKEN)
    )
    return fresh_emulator


def visit(owner: str = "42") -> GoodsVisit:
    return GoodsVisit.from_call(
        owner_id=owner, visitor_id="7", goods_id="1001", goods_name="自行车", visitor_name="小明"
    )


def test_a_sent_push_gets_its_delivered_receipt_from_the_emulator(receiving) -> None:
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.SENT
    row = Delivery.objects.get(event_id=event.event_id)
    wait_for(lambda: Delivery.objects.get(pk=row.pk).delivered_at is not None)
    assert Delivery.objects.get(pk=row.pk).clicked_at is None


def test_an_alias_the_emulator_does_not_know_comes_back_as_an_invalid_target_receipt(
    receiving,
) -> None:
    # One request naming a known and an unknown alias: Xiaomi accepts it and reports the unknown
    # one only through a receipt (type 16, errorCode 2), which deactivates that device.
    kept = PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    gone = PushDevice.objects.create(user_id="43", app_name="qqc", os_type="android")
    receiving.set_known_targets(["QQC_42"])
    event = visit()
    delivery = deliveries.ensure(event, "qqc")
    settings = conf.get()
    fields = content.android_fields(event.notification(settings), package=ANDROID_PACKAGE)
    fields |= content.callback_fields(event.event_id, settings.receipts)
    endpoints = Endpoints(receiving.production_url)
    # Recorded as the service records it: a receipt counts only for targets its delivery sent to.
    attempt = rows.attempt(
        delivery,
        key="k",
        platform="android",
        environment="production",
        target_type="alias",
        targets="QQC_42,QQC_43",
    )
    with Client(ANDROID_SECRET, endpoints=endpoints) as client:
        [result] = client.send_to_alias(fields, ["QQC_42", "QQC_43"])
    attempts.sent(rows.request(attempt), message_id=result.message_id, trace_id="", http_status=200)
    wait_for(lambda: not PushDevice.objects.get(pk=gone.pk).is_active)
    gone.refresh_from_db()
    assert gone.deactivated_reason == "Xiaomi receipt 16: invalid alias"
    wait_for(lambda: Delivery.objects.get(pk=delivery.pk).delivered_at is not None)
    assert PushDevice.objects.get(pk=kept.pk).is_active
