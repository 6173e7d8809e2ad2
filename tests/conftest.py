"""Fixtures for every suite: one Stack per session, as Django is set up once per process."""

from tests.support.emulator import emulator_server, fresh_emulator  # noqa: F401
from tests.support.fixtures import clean_stack, stack, warm_stack  # noqa: F401
