"""Real processes: see tests/support/stack.py. Scenario code lives in tests/faults/scenarios.py."""

import pytest

# The scenarios hold the assertions (bench/faults.py runs them too): let pytest explain failures.
pytest.register_assert_rewrite("tests.faults.scenarios")

from tests.support.fixtures import clean_stack, stack  # noqa: E402, F401
