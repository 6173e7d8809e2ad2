"""Device lifecycle through Redis, a real worker and the emulator over HTTP: a regid Xiaomi
names in ``bad_regids`` is deactivated alone, the next event skips it, re-registering revives it."""

from __future__ import annotations

import pytest

from tests.support.stack import wait_for

pytestmark = pytest.mark.slow


def visit() -> str:
    from pushworker.tasks import send_goods_visit

    return send_goods_visit.delay(
        owner_id="42", visitor_id="7", goods_id="g-1", goods_name="青花瓷碗", visitor_name="小明"
    ).id


def sent(event_id: str) -> None:
    from pushworker.store.models import Delivery

    row = wait_for(
        lambda: Delivery.objects.filter(event_id=event_id, status="sent").first(),
        60,
        message=f"delivery {event_id} to be sent",
    )
    assert row.status == "sent"


def regid_requests(stack) -> list[list[str]]:
    return [
        sorted(m["targets"] + m["dropped_targets"])
        for m in stack.emulator.messages()
        if m["target_type"] == "regid"
    ]


def test_bad_regids_deactivate_one_device_the_next_event_skips_it_and_re_registration_revives(
    warm_stack,
):
    from pushworker.store import devices
    from pushworker.store.models import PushDevice

    stack = warm_stack
    for regid in ("regid-kept", "regid-gone"):
        PushDevice.objects.create(
            user_id="42", app_name="qqc", os_type="android", registration_id=regid
        )
    stack.emulator.set_known_targets({"regid-kept"})

    sent(visit())
    assert regid_requests(stack) == [["regid-gone", "regid-kept"]]
    gone = PushDevice.objects.get(registration_id="regid-gone")
    assert not gone.is_active and gone.deactivated_reason.startswith("Xiaomi bad_regids")
    assert PushDevice.objects.get(registration_id="regid-kept").is_active

    stack.emulator.reset()
    sent(visit())
    assert regid_requests(stack) == [["regid-kept"]]

    devices.register(
        devices.Registration(
            user_id="42", platform="android", app_name="qqc", registration_id="regid-gone"
        )
    )
    stack.emulator.set_known_targets(None)
    stack.emulator.reset()
    sent(visit())
    assert regid_requests(stack) == [["regid-gone", "regid-kept"]]
    assert PushDevice.objects.filter(is_active=True).count() == 2
