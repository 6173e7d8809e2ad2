"""Redis crashes, restarts, refuses or hangs: the web side never waits and nothing is lost."""

from __future__ import annotations

import pytest

from tests.faults import scenarios

pytestmark = pytest.mark.slow


def test_events_queued_in_a_redis_that_lost_them_are_republished_by_the_sweeper(clean_stack):
    scenarios.redis_lost_queue(clean_stack)


def test_with_aof_everysec_the_queue_survives_a_redis_kill(clean_stack):
    scenarios.redis_aof_survives(clean_stack)


def test_an_idle_worker_resumes_consuming_after_a_redis_restart(clean_stack):
    scenarios.redis_restart_idle(clean_stack)


@pytest.mark.parametrize("mode", ["refused", "silent"])
def test_every_enqueue_returns_within_budget_while_redis_is_down_and_all_are_sent_later(
    clean_stack, mode
):
    scenarios.enqueue_burst_while_redis_down(clean_stack, mode)


@pytest.mark.parametrize("mode", ["refused", "silent"])
def test_delay_on_commit_with_redis_down_commits_without_error_and_is_sent_later(clean_stack, mode):
    scenarios.delay_on_commit_while_redis_down(clean_stack, mode)
