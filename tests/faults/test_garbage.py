"""Entries pushed onto the queue by hand never kill or wedge the worker."""

from __future__ import annotations

import pytest

from tests.faults import scenarios

pytestmark = pytest.mark.slow


def test_garbage_on_the_queue_leaves_the_worker_running_and_bad_arguments_fail_cleanly(
    clean_stack,
):
    scenarios.garbage_on_the_queue(clean_stack)
