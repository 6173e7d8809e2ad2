"""The daily summaries under faults: one summary per recipient and day, every repeat flagged."""

from __future__ import annotations

import pytest

from tests.faults import scenarios

pytestmark = pytest.mark.slow


def test_a_scheduler_run_many_times_at_once_makes_one_summary_per_recipient(clean_stack):
    scenarios.summaries_beat_twice(clean_stack)


def test_a_worker_killed_mid_summary_sends_each_once_or_flagged_and_makes_no_second(clean_stack):
    scenarios.summaries_worker_killed(clean_stack)


def test_redis_restarted_mid_run_still_sends_one_summary_per_recipient(clean_stack):
    scenarios.summaries_redis_restarted(clean_stack)
