"""Specifies store.records_bulk: the enqueue row in one statement, as the ORM writes it."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pushworker.events import GoodsVisit
from pushworker.store import records, records_bulk
from pushworker.store.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db

COMPARED = (
    "kind",
    "app_name",
    "recipient_id",
    "subject_id",
    "payload",
    "status",
    "attempts",
    "crashes",
    "retries",
    "claimed_by",
    "possible_duplicate",
    "redelivered",
    "message_id",
    "trace_id",
    "error_code",
    "error_category",
    "error_reason",
    "claimed_at",
    "finished_at",
    "next_attempt_at",
)


def visit(**changes) -> GoodsVisit:
    args = {"owner_id": "42", "visitor_id": "7", "goods_id": "1001", "goods_name": "二手自行车"}
    return GoodsVisit.from_call(**(args | changes))


def test_a_new_event_is_one_statement_and_reads_back_as_the_orms_row() -> None:
    event, twin = visit(visitor_name="小明"), visit(visitor_name="小明")
    with CaptureQueriesContext(connection) as queries:
        assert records_bulk.insert_event(event, "qqc", published=True) is True
    assert len(queries) == 1
    records.ensure(twin, "qqc")
    ours, orms = (Delivery.objects.get(event_id=e.event_id) for e in (event, twin))
    assert str(ours.event_id) == event.event_id
    assert {f: getattr(ours, f) for f in COMPARED} == {f: getattr(orms, f) for f in COMPARED}
    assert ours.published_at is not None and ours.created_at == ours.updated_at
    assert ours.status == DeliveryStatus.QUEUED


def test_an_unpublished_event_waits_with_no_publish_time() -> None:
    event = visit()
    records_bulk.insert_event(event, "qqc", published=False)
    assert Delivery.objects.get(event_id=event.event_id).published_at is None


def test_a_duplicate_leaves_the_existing_row_as_it_is() -> None:
    event = visit()
    assert records_bulk.insert_event(event, "qqc", published=True) is True
    Delivery.objects.filter(event_id=event.event_id).update(status=DeliveryStatus.SENT)
    assert records_bulk.insert_event(event, "other", published=False) is False
    kept = Delivery.objects.get(event_id=event.event_id)
    assert (kept.status, kept.app_name) == (DeliveryStatus.SENT, "qqc")
    assert kept.published_at is not None
    assert Delivery.objects.count() == 1


def test_text_a_database_refuses_is_stored_as_the_event_cleaned_it() -> None:
    # NUL (PostgreSQL refuses it in text and JSON) and lone surrogates (no UTF-8) arrive from
    # JSON bodies; the event's checks clean names, and the row keeps exactly those.
    event = visit(goods_name="bike\x00 \ud83d", visitor_name="\x00bob")
    assert records_bulk.insert_event(event, "qqc", published=True) is True
    kept = Delivery.objects.get(event_id=event.event_id)
    assert kept.payload["goods_name"] == event.goods_name
    assert kept.payload["visitor_name"] == event.visitor_name
    assert "\x00" not in json_text(kept.payload)


def test_an_event_id_given_by_the_caller_is_kept_as_given() -> None:
    given = str(uuid.uuid4())
    event = visit(event_id=given)
    records_bulk.insert_event(event, "qqc", published=True)
    assert Delivery.objects.filter(event_id=given).exists()


def json_text(payload: dict) -> str:
    import json

    return json.dumps(payload, ensure_ascii=False)
