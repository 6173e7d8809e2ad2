"""Workers die or stop mid-send: every event still ends sent, and only a cut send repeats."""

from __future__ import annotations

import pytest

from tests.faults import scenarios

pytestmark = pytest.mark.slow


def test_killing_the_whole_worker_mid_send_loses_nothing_and_flags_each_repeat(clean_stack):
    scenarios.worker_killed(clean_stack)


def test_killing_the_sending_pool_child_requeues_its_event_at_once_and_flags_the_repeat(
    clean_stack,
):
    scenarios.pool_child_killed(clean_stack)


def test_a_warm_shutdown_finishes_running_sends_and_repeats_none(clean_stack):
    scenarios.warm_shutdown(clean_stack)


def test_a_message_that_kills_every_child_ends_dead_after_max_crashes(clean_stack):
    scenarios.poison_message(clean_stack)
