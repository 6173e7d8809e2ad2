"""Real processes (tests/support/stack.py); the stack fixtures come from tests/conftest.py."""
