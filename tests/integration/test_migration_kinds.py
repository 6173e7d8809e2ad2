"""Migration 0007 on the integration database (PostgreSQL when given): rows the previous schema
wrote survive as generic rows, and a pending one is then delivered by a real worker to the emulator.
"""

from __future__ import annotations

import uuid

import pytest

from tests.integration.test_pipeline import add_device, finished

pytestmark = pytest.mark.slow

BEFORE = [("pushworker", "0006_device_checks_partial_status")]
AFTER = [("pushworker", "0007_delivery_event_kinds")]


def test_old_rows_survive_the_migration_and_a_pending_one_is_delivered(clean_stack) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from pushworker import tasks
    from pushworker.store.models import Delivery

    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps.get_model("pushworker", "Delivery")
        pending = old.objects.create(
            event_id=uuid.uuid4(),
            app_name="qqc",
            owner_id="700",
            visitor_id="v-7",
            visitor_name="小明",
            goods_id="g-7",
            goods_name="青花瓷碗",
        )
        done = old.objects.create(
            event_id=uuid.uuid4(),
            app_name="qqc",
            owner_id="701",
            visitor_id="",
            goods_id="g-8",
            goods_name="碗",
            status="sent",
            message_id="m-8",
        )
        executor.loader.build_graph()
        executor.migrate(AFTER)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    moved = Delivery.objects.get(event_id=pending.event_id)
    assert (moved.kind, moved.recipient_id, moved.subject_id, moved.status) == (
        "goods_visit",
        "700",
        "g-7",
        "queued",
    )
    assert moved.payload == {
        "visitor_id": "v-7",
        "goods_id": "g-7",
        "goods_name": "青花瓷碗",
        "visitor_name": "小明",
    }
    kept = Delivery.objects.get(event_id=done.event_id)
    assert (kept.recipient_id, kept.status, kept.message_id, kept.payload["visitor_id"]) == (
        "701",
        "sent",
        "m-8",
        None,
    )

    add_device("700", "android")
    clean_stack.worker()
    # The pending row never reached the broker: the relay publishes it (this call, or the worker's
    # own beat if it runs first; the claim makes a second copy a no-op).
    tasks.relay_outbox()
    assert finished(str(pending.event_id), timeout=60).status == "sent"
    [message] = clean_stack.emulator.messages()
    assert message["fields"]["description"] == "【小明】刚刚浏览了您的商品【青花瓷碗】~"
    assert message["fields"]["extra.goods_id"] == "g-7"
