"""pytest fixtures shared by the integration and fault suites."""

from __future__ import annotations

import pytest

from tests.support.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.close()


@pytest.fixture
def clean_stack(stack):
    stack.reset()
    yield stack
    stack.reset()
