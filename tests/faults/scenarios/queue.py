"""Fault scenarios 11–13: what arrives on the queue: the same event twice, poison, garbage."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from typing import Any

from tests.faults import hooks
from tests.faults.scenarios.common import (
    PREFIX,
    QUEUE,
    VT,
    Result,
    add_devices,
    check_once_each,
    check_request_bound,
    event_kwargs,
    kill_hook_env,
    owners,
    redis_client,
    rows,
    sends_per_target,
    settled,
    tally,
    visit,
    wait_finished,
)
from tests.support.stack import Stack, wait_for

# -- 11: the same event more than once ----------------------------------------------------------


def same_event_twice(stack: Stack) -> Result:
    """The same event id enqueued twice plus a raw second publish; and countdowns beyond the
    visibility timeout, which Redis hands out a second time while the first copy waits."""
    from pushworker.tasks import send_goods_visit

    twice, later = "d11-twice", owners("d11-eta", 4)
    add_devices([twice, *later])
    stack.emulator.set_faults(latency_ms=1000)  # copies that run together overlap in flight
    stack.worker("w1")
    started = time.monotonic()
    delayed = {}
    for owner in later:
        event_id = str(uuid.uuid4())
        send_goods_visit.apply_async(
            kwargs=event_kwargs(owner, event_id), task_id=event_id, countdown=VT + 5
        )
        delayed[event_id] = PREFIX + owner
    event_id = str(uuid.uuid4())
    assert visit(twice, event_id=event_id) == event_id
    assert visit(twice, event_id=event_id) == event_id
    send_goods_visit.apply_async(kwargs=event_kwargs(twice, event_id), task_id=event_id)
    targets = {event_id: PREFIX + twice, **delayed}
    done_at = wait_finished(list(targets), timeout=VT + 30, what="(duplicates and countdowns)")
    # Every copy must have run (or been dropped) before the count is final.
    wait_for(lambda: settled(stack), 3 * VT, interval=0.5, message="the broker to drain")

    result = tally(stack, "same event ×3, countdown > VT", targets, recovery_s=done_at - started)
    check_once_each(stack, result, targets)
    check_request_bound(stack, len(targets))
    return result


# -- 12 and garbage: messages that hurt the worker ---------------------------------------------


def poison_message(stack: Stack) -> Result:
    """A message whose run kills the pool child every time ends ``dead`` after MAX_CRASHES."""
    from pushworker import conf

    max_crashes = conf.get().max_crashes
    poisoned, healthy = "p12-poison", "p12-healthy"
    add_devices([poisoned, healthy])
    pid_env, pid_file = kill_hook_env(stack, "poison")
    worker = stack.worker("w1", env=pid_env)
    started = time.monotonic()
    # No visitor_name: the resolver runs, and kills its process for "poison-…" visitors.
    bad = visit(poisoned, visitor_id=f"{hooks.POISON_PREFIX}1", visitor_name=None)
    good = visit(healthy, visitor_name=None)
    done_at = wait_finished([bad, good], timeout=40, what="(poison message)")

    found = rows([bad, good])
    kills = len(hooks.pids(pid_file).get(f"{hooks.POISON_PREFIX}1", []))
    targets = {bad: PREFIX + poisoned, good: PREFIX + healthy}
    result = tally(
        stack,
        "poison message kills its child",
        targets,
        recovery_s=done_at - started,
        expect={bad: "dead"},
        kills=kills,
    )
    row = found[bad]
    assert (row.status, row.error_category) == ("dead", "poison"), (row.status, row.error_reason)
    assert row.crashes == max_crashes, f"crashes {row.crashes}, expected {max_crashes}"
    assert kills == max_crashes, f"the poison killed {kills} children, expected {max_crashes}"
    assert found[good].status == "sent"
    assert sends_per_target(stack)[PREFIX + poisoned] == 0
    assert worker.process is not None and worker.process.poll() is None, "the worker died"
    check_request_bound(stack, 1)
    return result


def _captured_envelope(stack: Stack, kwargs: dict[str, Any], task_id: str) -> dict[str, Any]:
    """A real message as the producer writes it, taken from a queue nobody consumes."""
    from pushworker.tasks import send_goods_visit

    send_goods_visit.apply_async(kwargs=kwargs, task_id=task_id, queue="faults.capture")
    raw = redis_client(stack).rpop("faults.capture")
    assert raw is not None
    return json.loads(raw)


def _with_body(
    envelope: dict[str, Any], args: list[Any], kwargs: dict[str, Any], **headers: Any
) -> bytes:
    message = json.loads(json.dumps(envelope))
    body = json.dumps(
        [args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    )
    message["body"] = base64.b64encode(body.encode()).decode()
    message["headers"].update(headers)
    message["properties"]["delivery_info"]["routing_key"] = QUEUE
    message["properties"]["delivery_tag"] = str(uuid.uuid4())  # two entries never share a tag
    return json.dumps(message).encode()


def garbage_on_the_queue(stack: Stack) -> Result:
    """Entries pushed onto the queue by hand neither kill nor wedge the worker."""
    from pushworker.store.models import DeadLetter

    DeadLetter.objects.all().delete()
    owner, after = "g-bad", "g-after"
    add_devices([owner, after])
    worker = stack.worker("w1")
    pid = worker.process.pid if worker.process else None
    bad_types = str(uuid.uuid4())
    template = _captured_envelope(stack, event_kwargs(owner, bad_types), bad_types)
    client = redis_client(stack)
    started = time.monotonic()
    client.lpush(QUEUE, b"\x00\xff this is not JSON")
    client.lpush(QUEUE, b'["json", "but", "no", "envelope"]')
    client.lpush(QUEUE, _with_body(template, [], {}, task="pushworker.no_such_task"))
    client.lpush(
        QUEUE,
        _with_body(
            template,
            [],
            {
                "owner_id": [1, 2],
                "visitor_id": {"x": 1},
                "goods_id": None,
                "goods_name": 5,
                "event_id": bad_types,
            },
        ),
    )
    next_event = visit(after)
    done_at = wait_finished([bad_types, next_event], timeout=20, what="(after garbage)")

    targets = {bad_types: PREFIX + owner, next_event: PREFIX + after}
    result = tally(
        stack,
        "garbage pushed onto the queue",
        targets,
        recovery_s=done_at - started,
        expect={bad_types: "failed"},
        dead_letters=DeadLetter.objects.count(),
    )
    row = rows([bad_types])[bad_types]
    assert (row.status, row.error_category) == ("failed", "bad_request"), row.error_reason
    assert "owner_id" in row.error_reason
    assert rows([next_event])[next_event].status == "sent"
    assert worker.process is not None and worker.process.poll() is None, "the worker died"
    assert worker.process.pid == pid
    assert DeadLetter.objects.count() >= 3, "the unreadable entries were not kept"
    assert sends_per_target(stack) == Counter({PREFIX + after: 1})
    return result
