"""The delivery policy in a real celery worker with the shipped defaults: delay() → Redis → worker
(policy in the broker's Redis, password and all) → the emulator → delivery rows."""

from __future__ import annotations

import pytest

from tests.support.stack import wait_for

pytestmark = pytest.mark.slow


def test_repeats_and_a_popular_goods_are_held_back_by_the_worker(clean_stack) -> None:
    import redis

    from pushworker.store.models import Delivery, PushDevice
    from pushworker.tasks import send_goods_visit

    stack = clean_stack
    stack.worker("policy", env={"PUSHWORKER_POLICY": ""})  # unset: the shipped defaults
    for owner in ("500", "600"):
        PushDevice.objects.create(user_id=owner, app_name="qqc", os_type="android")
    goods = {"goods_id": "g-1", "goods_name": "青花瓷碗"}
    for _ in range(5):  # one buyer, one goods, five times
        send_goods_visit.delay(owner_id="500", visitor_id="v-1", **goods)
    for buyer in range(7):  # seven buyers of one popular goods
        send_goods_visit.delay(owner_id="600", visitor_id=f"b-{buyer}", **goods)

    wait_for(lambda: Delivery.objects.count() == 12 and stack.settled(), 90, message="12 to settle")
    ends = list(Delivery.objects.values_list("recipient_id", "status", "error_category"))
    assert sorted(e for e in ends if e[0] == "500") == sorted(
        [("500", "sent", "")] + [("500", "suppressed", "duplicate")] * 4
    )
    assert sorted(e for e in ends if e[0] == "600") == sorted(
        [("600", "sent", "")] * 5 + [("600", "suppressed", "daily_cap")] * 2
    )
    assert len(stack.emulator.messages()) == 6
    client = redis.Redis.from_url(stack.redis.url)
    assert client.keys("pushworker:policy:cap:*")  # the worker reached the broker's Redis
