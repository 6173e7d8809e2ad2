"""The one delivery engine under faults: retries wait as rows and go out in batches through a blip
and a killed worker, and urgent events do not wait behind a bulk backlog."""

from __future__ import annotations

import pytest

from tests.faults.scenarios import engine

pytestmark = pytest.mark.slow


def test_a_blip_during_a_batched_retry_loses_nothing_and_retries_in_batches(clean_stack):
    engine.blip_during_batched_retry(clean_stack)


def test_a_worker_killed_while_parked_retries_come_due_loses_nothing_and_flags_each_repeat(
    clean_stack,
):
    engine.worker_killed_while_retries_come_due(clean_stack)


def test_urgent_events_during_a_backlog_and_a_killed_worker_end_sent_before_most_of_it(
    clean_stack,
):
    engine.urgent_during_backlog_while_killed(clean_stack)


def test_an_event_whose_iphone_group_is_refused_waits_for_it_alone_and_never_resends_android(
    clean_stack,
):
    engine.one_group_refused_one_accepted(clean_stack)
