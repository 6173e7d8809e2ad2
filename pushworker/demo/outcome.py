"""What became of the demo's events: their deliveries, the requests made, what Xiaomi accepted."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pushworker.demo.scenario import Event

if TYPE_CHECKING:
    from pushworker.emulator import Emulator

WAIT_SECONDS = 45.0


def wait(events: list[Event], step: Callable[[str], None]) -> dict[str, Any]:
    """Poll until every event's delivery is terminal, or WAIT_SECONDS; the rows by event id."""
    from pushworker.store.models import TERMINAL_STATUSES, Delivery

    ids = [e.event_id for e in events]
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        rows = {str(d.event_id): d for d in Delivery.objects.filter(event_id__in=ids)}
        done = sum(1 for d in rows.values() if d.status in TERMINAL_STATUSES)
        if done == len(events) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if done == len(events):
        step(f"all {len(events)} deliveries reached a terminal state")
    else:
        step(f"gave up waiting after {WAIT_SECONDS:.0f} s: {done}/{len(events)} finished")
    return rows


@dataclass(frozen=True)
class Outcome:
    """Read once, after the wait, so the tables and the checks judge the same snapshot."""

    rows: dict[str, Any]  # event id -> Delivery; an event may have none
    statuses: dict[str, str]  # event id -> terminal status, or "unfinished"
    attempts: list[Any]  # the events' DeliveryAttempts, each with its delivery
    received: list[dict[str, Any]]  # every message the emulator accepted, this run's only
    accepted: dict[str, Counter[tuple[str, str]]]  # event id -> (platform, host) accepted
    first_hit: dict[str, float]  # event id -> when the emulator first accepted one (time.time())
    faults_left: tuple[str, ...]  # injected faults the emulator never answered with


def collect(events: list[Event], rows: dict[str, Any], emulator: Emulator) -> Outcome:
    """Read the outcome once; an attempt and a message match by the message id Xiaomi returned."""
    from pushworker.store.models import TERMINAL_STATUSES, DeliveryAttempt

    statuses = {}
    for event in events:
        row = rows.get(event.event_id)
        statuses[event.event_id] = (
            row.status if row and row.status in TERMINAL_STATUSES else "unfinished"
        )
    attempts = list(
        DeliveryAttempt.objects.select_related("delivery").filter(
            delivery__event_id__in=[e.event_id for e in events]
        )
    )
    received = emulator.messages()
    messages = {m["message_id"]: m for m in received}
    accepted: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    first_hit: dict[str, float] = {}
    for a in attempts:
        message = messages.get(a.message_id) if a.status == "sent" else None
        if message is None:
            continue
        event_id = str(a.delivery.event_id)
        accepted[event_id][(message["platform"], message["environment"])] += 1
        first_hit[event_id] = min(
            first_hit.get(event_id, message["received_at"]), message["received_at"]
        )
    return Outcome(
        rows=rows,
        statuses=statuses,
        attempts=attempts,
        received=received,
        accepted=dict(accepted),
        first_hit=first_hit,
        faults_left=emulator.faults().script,
    )
