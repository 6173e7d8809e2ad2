"""pytest fixtures shared by the integration and fault suites."""

from __future__ import annotations

import pytest

from tests.support.stack import Stack, wait_for


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.close()


@pytest.fixture
def clean_stack(stack):
    """The stack with no worker: the test starts the workers it needs."""
    stack.reset()
    yield stack
    stack.reset()


@pytest.fixture
def warm_stack(stack):
    """The stack with the shared default worker running (started once, not per test)."""
    stack.shared_worker()
    yield stack
    # What the test left in flight must not land in the next test's tables.
    wait_for(stack.settled, 60, interval=0.1, message="every delivery to end after the test")
