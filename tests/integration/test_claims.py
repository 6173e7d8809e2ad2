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
    from pushworker.store import records
    from pushworker.store.models import Delivery

    event = GoodsVisit.from_call("1", "2", "3", "碗", event_id=str(uuid.uuid4()))
    records.ensure(event, "qqc")
    start = threading.Barrier(RACERS)

    def race(_: int) -> bool:
        row = Delivery.objects.get(event_id=event.event_id)  # each thread: its own connection
        start.wait(timeout=30)
        try:
            return records.claim(row, redelivered=False, lease_seconds=300)
        finally:
            connection.close()

    with ThreadPoolExecutor(RACERS) as pool:
        won = list(pool.map(race, range(RACERS)))
    assert won.count(True) == 1
    assert Delivery.objects.get(event_id=event.event_id).status == "sending"


def test_batch_runs_claim_at_most_their_batch_oldest_first_and_never_share_a_row(stack):
    """PostgreSQL's planner once ran the claim's LIMIT subquery per row and took the whole
    backlog: each run must get at most its batch, and parallel runs disjoint rows."""
    from django.db import connection

    from pushworker.events import GoodsVisit, registry
    from pushworker.store import records_batch, records_bulk
    from pushworker.store.models import Delivery

    events = [GoodsVisit.from_call(str(n), "2", "3", "碗") for n in range(1000)]
    for event in events:
        records_bulk.insert_event(event, "qqc", published=False)
    kinds = list(registry.kinds())
    first = records_batch.claim_backlog("first", 100, kinds)
    assert [str(d.event_id) for d in first] == [e.event_id for e in events[:100]]
    start = threading.Barrier(RACERS)

    def race(n: int) -> set[int]:
        start.wait(timeout=30)
        try:
            return {d.pk for d in records_batch.claim_backlog(f"r{n}", 100, kinds)}
        finally:
            connection.close()

    with ThreadPoolExecutor(RACERS) as pool:
        claimed = list(pool.map(race, range(RACERS)))
    assert all(len(rows) <= 100 for rows in claimed)
    assert sum(map(len, claimed)) == len(set().union(*claimed))  # no row twice
    runs = ["first", *(f"r{n}" for n in range(RACERS))]
    held = Delivery.objects.filter(status="sending", claimed_by__in=runs).count()
    assert held == 100 + sum(map(len, claimed)) == 900  # the 1,000 rows minus one batch left
