"""Batch runs under faults: a bad message is isolated, a failure retries only its events, a crash
flags only its batch."""

from __future__ import annotations

import pytest

from tests.faults.scenarios import batches

pytestmark = pytest.mark.slow


def test_a_batch_refused_for_one_bad_message_is_split_and_only_that_event_fails(clean_stack):
    batches.batch_split_by_one_bad_message(clean_stack)


def test_a_transient_failure_of_a_batch_retries_only_the_events_not_yet_accepted(clean_stack):
    batches.batch_transient_failure(clean_stack)


def test_a_worker_killed_mid_batch_loses_nothing_and_flags_only_that_batch(clean_stack):
    batches.worker_killed_mid_batch(clean_stack)
