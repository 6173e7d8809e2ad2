"""The same event reaching the worker more than once is sent once."""

from __future__ import annotations

import pytest

from tests.faults import scenarios

pytestmark = pytest.mark.slow


def test_an_event_enqueued_three_times_or_held_past_the_visibility_timeout_is_sent_once(
    clean_stack,
):
    scenarios.same_event_twice(clean_stack)
