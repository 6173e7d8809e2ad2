"""Every kind of garbage at a real worker: it stays up, keeps each entry as a dead letter, sends on.

Real redis-server, real ``celery worker`` (prefork, embedded beat), PostgreSQL when configured,
the emulator over HTTP. The entries are tests/unit/transport_support.py's table, built from a
message the real producer wrote, so only the field under test is wrong.
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from tests.integration.test_pipeline import add_device, finished, visit
from tests.support.stack import wait_for
from tests.unit.transport_support import garbage

pytestmark = pytest.mark.slow
QUEUE = "pushworker"


def _captured(stack) -> dict:
    """A real task message as the producer writes it, taken from a queue nobody consumes."""
    from pushworker.tasks import send_goods_visit

    kwargs = {"owner_id": "t-none", "visitor_id": "v", "goods_id": "g", "goods_name": "碗"}
    send_goods_visit.apply_async(kwargs=kwargs, queue="transport.capture")
    raw = redis.Redis.from_url(stack.redis.url).rpop("transport.capture")
    assert raw is not None
    message = json.loads(raw)
    message["properties"]["delivery_info"]["routing_key"] = QUEUE
    return message


def _entry(entry: bytes | dict) -> bytes:
    if isinstance(entry, bytes):
        return entry
    entry = json.loads(json.dumps(entry))
    properties = entry.get("properties") if isinstance(entry, dict) else None
    if isinstance(properties, dict) and isinstance(properties.get("delivery_tag"), str):
        properties["delivery_tag"] = str(uuid.uuid4())  # two entries never share a tag
    return json.dumps(entry).encode()


def test_each_garbage_entry_is_a_dead_letter_and_every_valid_event_after_it_is_sent(clean_stack):
    from pushworker.store.models import DeadLetter

    DeadLetter.objects.all().delete()
    owners = [f"tg-{n}" for n in range(4)]
    for owner in owners:
        add_device(owner, "android")
    worker = clean_stack.worker(env={"PUSHWORKER_LOG_FORMAT": "text"})  # its escaping checked
    pid = worker.process.pid
    start = len(worker.log())  # the log file is shared by every test's worker "w1"
    queue = redis.Redis.from_url(clean_stack.redis.url)
    cases = garbage(_captured(clean_stack))

    # One at a time, so that each dead letter is known to be its entry's.
    for name, entry, reason in cases:
        before = DeadLetter.objects.count()
        queue.lpush(QUEUE, _entry(entry))
        wait_for(lambda b=before: DeadLetter.objects.count() > b, 30, message=f"{name} kept")
        letter = DeadLetter.objects.order_by("-id").first()
        assert reason in letter.reason, (name, letter.reason)
        assert worker.process.poll() is None, f"the worker died on {name}"

    # All at once, with valid events right behind them: every event is still sent.
    for _, entry, _ in cases:
        queue.lpush(QUEUE, _entry(entry))
    events = [visit(owner) for owner in owners]

    assert [finished(event).status for event in events] == ["sent"] * len(owners)
    wait_for(lambda: DeadLetter.objects.count() == 2 * len(cases), 30, message="all kept")
    wait_for(
        lambda: queue.llen(QUEUE) == 0 and queue.hlen("unacked") == 0,
        30,
        message="nothing queued or held unacknowledged",
    )
    assert worker.process.poll() is None and worker.process.pid == pid
    log = worker.log()[start:]
    assert "Unrecoverable error" not in log
    assert "Restoring" not in log
    # The forged task name stays on its dead letter's line (its newline made a space).
    assert "task=x 2026-12-01 00:00:00,000 INFO pushworker FORGED" in log
    assert not any(line.startswith("2026-12-01 00:00:00,000") for line in log.splitlines())


def test_a_far_future_eta_is_a_dead_letter_within_one_visibility_timeout_and_never_held(
    clean_stack,
):
    from pushworker import conf
    from pushworker.celery import app
    from pushworker.store.models import DeadLetter

    DeadLetter.objects.all().delete()
    clean_stack.worker()
    queue = redis.Redis.from_url(clean_stack.redis.url)
    entry = _captured(clean_stack)
    entry["headers"]["eta"] = "9999-12-31T23:59:59"
    queue.lpush(QUEUE, _entry(entry))

    letter = wait_for(
        lambda: DeadLetter.objects.first(),
        conf.get().visibility_timeout,
        message="the entry kept as a dead letter within one visibility timeout",
    )
    assert "headers.eta is" in letter.reason and "beyond the redelivery horizon" in letter.reason
    assert (queue.llen(QUEUE), queue.hlen("unacked")) == (0, 0)
    scheduled = app.control.inspect(timeout=2).scheduled() or {}
    assert not any(scheduled.values()), scheduled
