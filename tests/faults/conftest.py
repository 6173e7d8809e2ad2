"""Real processes (tests/support/stack.py; fixtures in tests/conftest.py); scenarios/ asserts."""

import pytest

# The scenarios hold the assertions (bench/faults.py runs them too): let pytest explain failures.
pytest.register_assert_rewrite("tests.faults.scenarios")  # the package and its modules
