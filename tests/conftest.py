"""Fixtures for every suite: one Stack per session, as Django is set up once per process."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.support.emulator import emulator_server, fresh_emulator  # noqa: F401
from tests.support.fixtures import clean_stack, stack, warm_stack  # noqa: F401


def handlers_on_closed_streams() -> list[str]:
    """Logging handlers whose stream is closed: each later record would print a traceback."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return [
        f"{logger.name}: {handler!r}"
        for logger in loggers
        for handler in logger.handlers
        if getattr(getattr(handler, "stream", None), "closed", False)
    ]


@pytest.fixture(autouse=True)
def _no_logging_handler_is_left_on_a_closed_stream() -> Iterator[None]:
    """A test's captured output is closed after it: a handler it bound there (by configuring
    logging while capturing) would turn every later log line into a "--- Logging error ---"."""
    yield
    left = handlers_on_closed_streams()
    assert not left, f"logging handlers left writing to a closed stream: {left}"
