"""Fixtures: one emulator per module, reset before each test, and httpx clients for both ports."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pushworker.emulator import Emulator
from tests.integration.emulator.emulator_support import ANDROID_APP, IOS_APP


@pytest.fixture(scope="module")
def running_emulator() -> Iterator[Emulator]:
    with Emulator(apps=[ANDROID_APP, IOS_APP]) as emulator:
        yield emulator


@pytest.fixture
def emulator(running_emulator: Emulator) -> Emulator:
    running_emulator.reset()
    running_emulator.set_known_targets(None)
    return running_emulator


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.production_url, timeout=5) as client:
        yield client


@pytest.fixture
def sandbox(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.sandbox_url, timeout=5) as client:
        yield client
