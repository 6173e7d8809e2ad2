"""PostgreSQL drops the workers' connections mid-drain: nothing lost, repeats flagged, no row
left claimed."""

from __future__ import annotations

import pytest

from tests.faults import scenarios
from tests.faults.scenarios import postgres

pytestmark = pytest.mark.slow


def test_a_drain_whose_connection_is_cut_hands_its_batch_back_due_without_a_crash(clean_stack):
    postgres.drain_cut_once(clean_stack)


def test_connections_cut_again_and_again_mid_claim_lose_nothing_and_leave_no_row_claimed(
    clean_stack,
):
    scenarios.connections_cut_mid_claim(clean_stack)
