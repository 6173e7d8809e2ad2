"""Fixtures: the shared emulator, reset around each test, and httpx clients for both ports."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pushworker.emulator import Emulator


@pytest.fixture
def emulator(fresh_emulator: Emulator) -> Emulator:
    """The shared emulator (tests/support/emulator.py): its apps are emulator_support's."""
    return fresh_emulator


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.production_url, timeout=5) as client:
        yield client


@pytest.fixture
def sandbox(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.sandbox_url, timeout=5) as client:
        yield client
