"""Hand-pushed queue entries never kill or wedge the worker; they are kept for a human."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis

from tests.integration.test_pipeline import add_device, finished, visit
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow


def envelope(task: str, kwargs: dict, body_override: bytes | None = None) -> bytes:
    """A Celery protocol-2 message as kombu's Redis transport stores it."""
    task_id = str(uuid.uuid4())
    body = body_override if body_override is not None else json.dumps([[], kwargs, {}]).encode()
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": task,
                "id": task_id,
                "root_id": task_id,
                "retries": 0,
                "argsrepr": "()",
                "kwargsrepr": "{}",
            },
            "properties": {
                "correlation_id": task_id,
                "delivery_mode": 2,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
                "priority": 0,
                "delivery_info": {"exchange": "", "routing_key": "pushworker"},
            },
        }
    ).encode()


def test_garbage_on_the_queue_is_dead_lettered_and_the_next_event_is_still_sent(warm_stack):
    from pushworker.store.models import DeadLetter, Delivery

    add_device("800", "android")
    queue = redis.Redis.from_url(warm_stack.redis.url)
    queue.lpush("pushworker", b"\x00\xff not json at all")
    queue.lpush("pushworker", b'{"json": "but not an envelope"}')
    queue.lpush("pushworker", b"[1, 2, 3]")
    queue.lpush("pushworker", envelope("pushworker.no_such_task", {}))
    queue.lpush(
        "pushworker", envelope("pushworker.send_goods_visit", {}, body_override=b"{broken json")
    )
    queue.lpush(
        "pushworker",
        envelope(
            "pushworker.send_goods_visit",
            {"owner_id": ["a", "list"], "visitor_id": None, "goods_id": 3.5, "goods_name": ""},
        ),
    )

    assert finished(visit("800")).status == "sent"
    wait_for(lambda: DeadLetter.objects.count() >= 5, 20, message="five dead letters")
    reasons = " | ".join(DeadLetter.objects.values_list("reason", flat=True))
    assert "queue entry is not JSON" in reasons
    assert "malformed envelope: properties is not an object" in reasons
    assert "malformed envelope: not a JSON object but list" in reasons
    assert "unknown task" in reasons
    assert "undecodable" in reasons or "invalid" in reasons
    assert DeadLetter.objects.filter(body__contains="not json at all").exists()
    rejected = wait_for(
        lambda: Delivery.objects.filter(error_category="bad_request").first(),
        20,
        message="the badly typed event to be recorded",
    )
    assert rejected.status == "failed"
    assert "owner_id" in rejected.error_reason
    assert warm_stack.workers[0].process.poll() is None
