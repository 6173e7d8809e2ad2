"""The fault scenarios' building blocks: events, devices, rows, counts and the broker's state.

Counting: an event is *lost* when it did not end in its expected status or Xiaomi never got it;
*duplicated* counts the extra sends the emulator accepted for one target (one target per event).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.faults import hooks
from tests.support.proxy import ResponseProxy
from tests.support.stack import FAST_SETTINGS, Stack, wait_for

TERMINAL = {"sent", "partial", "suppressed", "failed", "dead"}
VT = int(FAST_SETTINGS["PUSHWORKER_VISIBILITY_TIMEOUT"])
STALE_AFTER = int(FAST_SETTINGS["PUSHWORKER_STALE_AFTER"])
READ_TIMEOUT = float(FAST_SETTINGS["MIPUSH_READ_TIMEOUT"])
PREFIX = "QQC_"  # the default app's alias prefix: a device of owner N is reached as QQC_N
QUEUE = "pushworker"


@dataclass
class Result:
    """One row of the faults report."""

    fault: str
    events: int
    sent: int
    lost: int
    duplicated: int
    recovery_s: float | None
    facts: dict[str, Any] = field(default_factory=dict)


# -- building blocks ----------------------------------------------------------------------------


def add_devices(owners: list[str], os_type: str = "android") -> None:
    from pushworker.store.models import PushDevice

    PushDevice.objects.bulk_create(
        [PushDevice(user_id=owner, app_name="qqc", os_type=os_type) for owner in owners]
    )


def owners(tag: str, count: int) -> list[str]:
    return [f"{tag}{n:03d}" for n in range(count)]


def visit(owner: str, **overrides: Any) -> str:
    """``send_goods_visit.delay()`` as a view calls it; returns the event id."""
    from pushworker.tasks import send_goods_visit

    kwargs = {
        "owner_id": owner,
        "visitor_id": f"v-{owner}",
        "goods_id": "g-9",
        "goods_name": "青花瓷碗",
        "visitor_name": "小明",
    } | overrides
    return send_goods_visit.delay(**kwargs).id


def published(timeout: float = 10.0) -> None:
    """Wait until this process's ``delay()`` calls have published their messages or handed their
    rows to the relay (the publish runs on a publisher thread after the call returns)."""
    from pushworker.producer import enqueue

    assert enqueue.flush(timeout), "the publisher threads did not settle"


def event_kwargs(owner: str, event_id: str, **overrides: Any) -> dict[str, Any]:
    """The task's keyword arguments, for publishing by hand with ``apply_async``."""
    return {
        "owner_id": owner,
        "visitor_id": f"v-{owner}",
        "goods_id": "g-9",
        "goods_name": "青花瓷碗",
        "visitor_name": "小明",
        "app_name": None,
        "event_id": event_id,
    } | overrides


def rows(event_ids: list[str]) -> dict[str, Any]:
    from pushworker.store.models import Delivery

    return {str(d.event_id): d for d in Delivery.objects.filter(event_id__in=event_ids)}


def wait_finished(event_ids: list[str], timeout: float, what: str = "") -> float:
    """Wait until every event's row is terminal; the monotonic time it happened."""

    def done() -> bool:
        found = rows(event_ids)
        return len(found) == len(event_ids) and all(d.status in TERMINAL for d in found.values())

    def progress() -> str:
        return str(Counter(d.status for d in rows(event_ids).values()))

    try:
        wait_for(done, timeout, interval=0.2, message=f"{len(event_ids)} events to finish {what}")
    except AssertionError as error:
        raise AssertionError(f"{error}; statuses now {progress()}") from None
    return time.monotonic()


def sends_per_target(stack: Stack) -> Counter[str]:
    """How many accepted sends the emulator recorded for each target."""
    return Counter(t for message in stack.emulator.messages() for t in message["targets"])


def open_requests(event_ids: list[str]) -> set[str]:
    """The events with a request to Xiaomi started and not finished."""
    from pushworker.store.models import DeliveryAttempt

    return {
        str(e)
        for e in DeliveryAttempt.objects.filter(
            delivery__event_id__in=event_ids, status="sending"
        ).values_list("delivery__event_id", flat=True)
    }


def tally(
    stack: Stack,
    fault: str,
    targets: dict[str, str],
    *,
    recovery_s: float | None,
    expect: dict[str, str] | None = None,
    **facts: Any,
) -> Result:
    """Count ``targets`` (event id -> alias) against the rows and the emulator's record."""
    expect = expect or {}
    found = rows(list(targets))
    counts = sends_per_target(stack)
    sent = sum(1 for e in targets if found.get(e) and found[e].status == "sent")
    lost = 0
    for event_id, target in targets.items():
        wanted = expect.get(event_id, "sent")
        row = found.get(event_id)
        if row is None or row.status != wanted or (wanted == "sent" and counts[target] == 0):
            lost += 1
    duplicated = sum(max(0, counts[t] - 1) for t in targets.values())
    return Result(fault, len(targets), sent, lost, duplicated, recovery_s, facts)


def check_once_each(stack: Stack, result: Result, targets: dict[str, str]) -> None:
    """The plain promise: nothing lost, nothing sent twice."""
    counts = sends_per_target(stack)
    assert result.lost == 0, f"lost {result.lost} events: {result}"
    assert result.sent == result.events, f"{result.sent}/{result.events} sent: {result}"
    extra = {t: counts[t] for t in targets.values() if counts[t] != 1}
    assert not extra, f"targets not sent exactly once: {extra}"
    flagged = [e for e, d in rows(list(targets)).items() if d.possible_duplicate]
    assert not flagged, f"rows flagged possible_duplicate though no request was cut: {flagged}"


def check_request_bound(stack: Stack, bound: int) -> None:
    requests = stack.emulator.stats()["requests"]
    assert requests <= bound, f"the emulator saw {requests} requests, more than the bound {bound}"


def emulator_address(stack: Stack) -> tuple[str, int]:
    parts = urlsplit(stack.emulator.production_url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@contextmanager
def response_proxy(stack: Stack) -> Iterator[ResponseProxy]:
    """A proxy between worker and emulator that can cut answers Xiaomi already gave."""
    proxy = ResponseProxy(*emulator_address(stack)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5)


def redis_client(stack: Stack):
    return _redis(stack.redis.url)


def queue_length(stack: Stack) -> int:
    return int(redis_client(stack).llen(QUEUE))


def broker_drained(stack: Stack) -> bool:
    """No message left in the queue or held unacknowledged by a worker."""
    client = redis_client(stack)
    return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0


def kill_hook_env(stack: Stack, name: str) -> tuple[dict[str, str], str]:
    path = str(stack.tmp / f"pids-{name}-{uuid.uuid4().hex[:6]}")
    return {
        "PUSHWORKER_NICKNAME_RESOLVER": "tests.faults.hooks.kill_for_visitor",
        hooks.PID_FILE: path,
    }, path


def requests_answered(stack: Stack) -> bool:
    """Every request a worker recorded as made has been answered (and counted) by the emulator.

    ``attempts`` grows before each request and the emulator counts a request once it answers,
    so equal counts mean nothing is in flight: the condition a negative assertion waits for.
    """
    from django.db.models import Sum

    from pushworker.store.models import Delivery

    made = Delivery.objects.aggregate(made=Sum("attempts"))["made"] or 0
    return stack.emulator.stats()["requests"] >= made


def settled(stack: Stack) -> bool:
    """Nothing left to happen: no message queued or held by a worker, no request in flight."""
    return broker_drained(stack) and requests_answered(stack)


def process_gone(pid: int) -> bool:
    """The process has exited (a zombie its parent has not reaped yet counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")
