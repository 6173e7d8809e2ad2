"""Specifies the order-shipped kind (events/order_shipped.py), end to end through the pipeline."""

from __future__ import annotations

import uuid

import pytest

from pushworker import cli, tasks
from pushworker.broker import queues
from pushworker.delivery import service
from pushworker.events import InvalidEventError, notification, registry
from pushworker.events.base import OnQuota, Priority
from pushworker.events.order_shipped import TITLE, OrderShipped, describe
from pushworker.mipush import utf16_length
from pushworker.producer import enqueue
from pushworker.store import outbox
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from tests.unit.environment import CREDENTIALS

EVENT = {"buyer_id": "42", "order_id": "o-9", "goods_name": "二手自行车", "carrier": "顺丰速运"}


def shipped(**changes) -> OrderShipped:
    return OrderShipped.from_call(**(EVENT | changes))


def test_the_kind_is_registered_with_its_task_and_route() -> None:
    assert registry.get("order_shipped") is OrderShipped
    assert tasks.send_order_shipped.name == "pushworker.send_order_shipped"
    assert queues.ROUTES["pushworker.send_order_shipped"] == {"queue": queues.URGENT_QUEUE}
    assert OrderShipped.policy.quota_exhausted == OnQuota.RETRY
    assert OrderShipped.policy.priority == Priority.URGENT


def test_the_texts_are_the_issues_and_fit_xiaomis_limit() -> None:
    assert TITLE == "您的订单已发货"
    assert describe("二手自行车", "顺丰速运") == "您购买的【二手自行车】已由顺丰速运发出"
    long = describe("车" * 500, "快" * 100)
    assert utf16_length(long) <= notification.DESCRIPTION_MAX_UNITS and long.endswith("…发出")


def test_arguments_are_checked_by_the_shared_validators_naming_the_task() -> None:
    event = shipped(buyer_id=42, goods_name="bike\x00 new")
    assert (event.buyer_id, event.goods_name, event.recipient_id, event.subject_id) == (
        "42",
        "bike new",
        "42",
        "o-9",
    )
    with pytest.raises(InvalidEventError, match="^send_order_shipped: carrier must not be empty"):
        shipped(carrier=" \x00")
    with pytest.raises(InvalidEventError, match="^send_order_shipped: order_id must be an int"):
        shipped(order_id=None)
    with pytest.raises(InvalidEventError, match="^send_order_shipped: colour is not an argument"):
        shipped(colour="red")


@pytest.mark.django_db
def test_delay_keeps_a_row_of_the_kind_and_the_worker_sends_type_3(emulator) -> None:
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="ios")
    event_id = str(uuid.uuid4())
    result = tasks.send_order_shipped.apply(kwargs=EVENT | {"event_id": event_id})
    assert result.get() == DeliveryStatus.SENT
    row = Delivery.objects.get(event_id=event_id)
    assert (row.kind, row.recipient_id, row.subject_id) == ("order_shipped", "42", "o-9")
    assert row.payload == {"order_id": "o-9", "goods_name": "二手自行车", "carrier": "顺丰速运"}
    by_platform = {m["platform"]: m["fields"] for m in emulator.messages()}
    android, ios = by_platform["android"], by_platform["ios"]
    assert (android["title"], android["description"]) == (TITLE, describe("二手自行车", "顺丰速运"))
    assert (android["extra.type"], android["extra.order_id"]) == ("3", "o-9")
    assert android["notify_id"] == str(notification.notify_id(event_id))
    assert (ios["aps_proper_fields.title"], ios["extra.type"]) == (TITLE, "3")
    assert outbox.event_of(row) == shipped(event_id=event_id, app_name="qqc")


@pytest.mark.django_db
def test_a_used_up_quota_means_retry_later_for_an_order_but_failed_for_a_visit(emulator) -> None:
    from pushworker.events import GoodsVisit

    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    emulator.set_faults(fail_rate=1.0, fail_with="200001")
    assert service.deliver(shipped()).status == DeliveryStatus.RETRYING
    visit = GoodsVisit.from_call("42", "7", "1001", "碗")
    assert service.deliver(visit).status == DeliveryStatus.FAILED


@pytest.mark.django_db
def test_a_bad_message_is_recorded_as_a_rejected_order(emulator) -> None:
    event_id = str(uuid.uuid4())
    result = tasks.send_order_shipped.apply(kwargs=EVENT | {"carrier": 5}, task_id=event_id)
    # Recorded first, then shown as a task failure (Flower), never retried.
    assert result.state == "FAILURE" and isinstance(result.result, tasks.DeliveryFailed)
    row = Delivery.objects.get(event_id=event_id)
    assert (row.kind, row.recipient_id, row.subject_id, row.error_category) == (
        "order_shipped",
        "42",
        "o-9",
        "bad_request",
    )
    assert row.error_reason.startswith("send_order_shipped: carrier")


@pytest.mark.django_db
def test_the_command_line_and_the_admin_know_the_kind(
    configure, capsys, admin_client, monkeypatch
) -> None:
    configure(**CREDENTIALS)
    published = []  # recorded instead of sent to a broker; the rest of the enqueue path is real
    monkeypatch.setattr(enqueue, "publish", lambda task, *_: published.append(task.name) or 1)
    argv = ["send", "order_shipped", "--buyer-id", "42", "--order-id", "o-1"]
    argv += ["--goods-name", "碗", "--carrier", "中通", "--app", "qqc"]
    assert cli.main(argv) == 0
    event_id = capsys.readouterr().out.strip()
    assert Delivery.objects.get(event_id=event_id).kind == "order_shipped"
    assert published == ["pushworker.send_order_shipped"]
    page = admin_client.get("/admin/pushworker/delivery/", {"kind": "order_shipped", "q": "o-1"})
    assert page.status_code == 200 and event_id[:8].encode() in page.content
