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

    from pushworker import records
    from pushworker.events import GoodsVisit
    from pushworker.models import Delivery

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
