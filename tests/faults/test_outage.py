"""Xiaomi down for ten minutes (scaled down): events wait as rows, one probe at a time asks."""

from __future__ import annotations

import pytest

from tests.faults import scenarios

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mode", ["refused", "http503"])
@pytest.mark.parametrize("rate", [2, 10])
def test_an_outage_during_a_stream_kills_nothing_costs_a_few_probes_and_ends_in_one_go(
    clean_stack, mode, rate
):
    scenarios.xiaomi_outage(clean_stack, mode, rate)
