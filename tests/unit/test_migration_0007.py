"""Specifies migration 0007: goods-visit rows of the old schema become rows of the generic shape.

Rows are written the old way (owner_id, visitor_id, goods_id, goods_name, visitor_name columns),
the migration runs, nothing is lost, and a pending one is then delivered through the service to
the real emulator; going back restores the old columns.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from pushworker.delivery import service
from pushworker.store import outbox
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice

BEFORE = [("pushworker", "0006_device_checks_partial_status")]
AFTER = [("pushworker", "0007_delivery_event_kinds")]


@pytest.fixture
def executor():
    executor = MigrationExecutor(connection)
    yield executor
    # Later tests expect the latest schema, whatever migrations come after 0007.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def old_rows(executor) -> dict[str, object]:
    old = executor.loader.project_state(BEFORE).apps.get_model("pushworker", "Delivery")
    make = old.objects.create
    return {
        "pending": make(
            event_id=uuid.uuid4(),
            app_name="qqc",
            owner_id="42",
            visitor_id="7",
            visitor_name="小明",
            goods_id="1001",
            goods_name="二手自行车",
        ),
        "anonymous": make(
            event_id=uuid.uuid4(),
            app_name="qqc",
            owner_id="43",
            visitor_id="",
            goods_id="1002",
            goods_name="碗",
            status=DeliveryStatus.SENT,
            message_id="m-1",
        ),
        "rejected": make(
            event_id=uuid.uuid4(),
            app_name="",
            owner_id="",
            visitor_id="9",
            goods_id="g" * 64,
            goods_name="车" * 1024,
            status=DeliveryStatus.FAILED,
            error_category="bad_request",
        ),
    }


@pytest.mark.django_db(transaction=True)
def test_old_rows_keep_everything_and_a_pending_one_is_delivered_after(executor, emulator) -> None:
    executor.migrate(BEFORE)
    before = old_rows(executor)

    executor.loader.build_graph()
    executor.migrate(AFTER)
    # The rows are read with today's model: the columns later migrations add must exist too.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    rows = {name: Delivery.objects.get(pk=row.pk) for name, row in before.items()}
    assert Delivery.objects.count() == 3
    pending = rows["pending"]
    assert (pending.kind, pending.recipient_id, pending.subject_id) == ("goods_visit", "42", "1001")
    assert pending.payload == {
        "visitor_id": "7",
        "goods_id": "1001",
        "goods_name": "二手自行车",
        "visitor_name": "小明",
    }
    assert str(pending.event_id) == str(before["pending"].event_id)
    anonymous = rows["anonymous"]
    assert anonymous.payload["visitor_id"] is None and anonymous.payload["visitor_name"] is None
    assert (anonymous.status, anonymous.message_id) == (DeliveryStatus.SENT, "m-1")
    rejected = rows["rejected"]
    assert (rejected.recipient_id, rejected.subject_id) == ("", "g" * 64)
    assert rejected.payload["goods_name"] == "车" * 1024 and rejected.status == "failed"
    indexes = connection.introspection.get_constraints(connection.cursor(), "pushworker_delivery")
    assert "delivery_recipient_created" in indexes and "delivery_created_at" in indexes

    # The pending row is delivered as it would have been before the migration.
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    event = outbox.event_of(pending)
    assert service.deliver(event).status == DeliveryStatus.SENT
    [message] = emulator.messages()
    assert message["fields"]["description"] == "【小明】刚刚浏览了您的商品【二手自行车】~"
    assert message["fields"]["extra.goods_id"] == "1001"
    assert Delivery.objects.get(pk=pending.pk).status == DeliveryStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_the_migration_goes_back_to_the_old_columns(executor) -> None:
    executor.migrate(BEFORE)
    before = old_rows(executor)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    executor.loader.build_graph()
    executor.migrate(BEFORE)

    old = executor.loader.project_state(BEFORE).apps.get_model("pushworker", "Delivery")
    for name, row in before.items():
        back = old.objects.get(pk=row.pk)
        fields = ("owner_id", "visitor_id", "visitor_name", "goods_id", "goods_name", "status")
        assert [getattr(back, f) for f in fields] == [getattr(row, f) for f in fields], name
