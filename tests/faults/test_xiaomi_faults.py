"""Xiaomi errs, hangs, resets or refuses: retried as its answer deserves, counted honestly."""

from __future__ import annotations

import pytest

from tests.faults import scenarios

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["http500", "10002", "10027"])
def test_k_retryable_errors_then_success_send_once_after_k_plus_one_attempts(clean_stack, kind):
    scenarios.xiaomi_errors_then_success(clean_stack, kind)


@pytest.mark.parametrize("kind", ["hang", "reset", "reset-after-accept"])
def test_a_send_without_an_answer_frees_the_slot_is_retried_and_flagged(clean_stack, kind):
    scenarios.xiaomi_no_answer(clean_stack, kind)


def test_21301_20301_and_65011_are_recorded_with_their_code_and_never_retried(clean_stack):
    scenarios.xiaomi_refusals(clean_stack)
