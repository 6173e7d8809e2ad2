"""Real processes: see tests/support/stack.py."""

from tests.support.fixtures import clean_stack, stack  # noqa: F401
