"""Claims racing for one delivery row at the same moment: exactly one run wins (PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.slow

RACERS = 8


def test_only_one_of_many_simultaneous_claims_wins(stack):
    from django.db import connection

    from pushworker.events import GoodsVisit
    from pushworker.store import deliveries
    from pushworker.store.models import Delivery

    event = GoodsVisit.from_call("1", "2", "3", "碗", event_id=str(uuid.uuid4()))
    deliveries.ensure(event, "qqc")
    start = threading.Barrier(RACERS)

    def race(_: int) -> bool:
        row = Delivery.objects.get(event_id=event.event_id)  # each thread: its own connection
        start.wait(timeout=30)
        try:
            return deliveries.claim(row, redelivered=False, lease_seconds=300)
        finally:
            connection.close()

    with ThreadPoolExecutor(RACERS) as pool:
        won = list(pool.map(race, range(RACERS)))
    assert won.count(True) == 1
    assert Delivery.objects.get(event_id=event.event_id).status == "sending"


def test_drains_claim_at_most_their_batch_oldest_first_and_never_share_a_row(stack):
    """PostgreSQL's planner once ran the claim's LIMIT subquery per row and took the whole
    backlog: each drain must get at most its batch, and parallel drains disjoint rows."""
    from django.db import connection

    from pushworker.events import GoodsVisit
    from pushworker.store import deliveries
    from pushworker.store.models import Delivery

    events = [GoodsVisit.from_call(str(n), "2", "3", "碗") for n in range(1000)]
    for event in events:
        deliveries.insert(event, "qqc", published=False)
    first = deliveries.claim_due("first", 100)
    assert [str(d.event_id) for d in first] == [e.event_id for e in events[:100]]
    start = threading.Barrier(RACERS)

    def race(n: int) -> set[int]:
        start.wait(timeout=30)
        try:
            return {d.pk for d in deliveries.claim_due(f"r{n}", 100)}
        finally:
            connection.close()

    with ThreadPoolExecutor(RACERS) as pool:
        claimed = list(pool.map(race, range(RACERS)))
    assert all(len(rows) <= 100 for rows in claimed)
    assert sum(map(len, claimed)) == len(set().union(*claimed))  # no row twice
    runs = ["first", *(f"r{n}" for n in range(RACERS))]
    held = Delivery.objects.filter(status="sending", claimed_by__in=runs).count()
    assert held == 100 + sum(map(len, claimed)) == 900  # the 1,000 rows minus one batch left


def test_a_drain_claims_due_urgent_rows_first_and_leaves_bulk_rows_room(stack):
    """A bulk backlog cannot starve urgent rows, nor a flood of urgent rows bulk ones: urgent rows
    fill at most three quarters of a batch while bulk rows wait."""
    from pushworker.events import GoodsVisit, registry
    from pushworker.store import deliveries

    OrderShipped = registry.get("order_shipped")
    bulk = [GoodsVisit.from_call(str(n), "2", "3", "碗") for n in range(300)]
    urgent = [OrderShipped.from_call(str(n), f"o{n}", "碗", "顺丰") for n in range(300)]
    for event in bulk + urgent:  # the urgent ones are the newest
        deliveries.insert(event, "qqc", published=False)
    claimed = deliveries.claim_due("mixed", 100)
    kinds = [d.kind for d in claimed]
    assert kinds.count("order_shipped") == 75 and kinds.count("goods_visit") == 25
    assert kinds[:75] == ["order_shipped"] * 75  # held by priority, urgent first
    only_urgent = [OrderShipped.from_call(str(n), f"p{n}", "碗", "顺丰") for n in range(10)]
    for event in only_urgent:
        deliveries.insert(event, "qqc", published=False)
    # With few urgent rows, bulk rows take the rest of the room.
    assert len(deliveries.claim_due("more", 500)) == 500
