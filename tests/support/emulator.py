"""The one emulator the unit and integration tests share: two apps, reset around each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pushworker.emulator import Emulator, EmulatorApp

ANDROID_SECRET = "android-secret-4f9c2e7a1b"
IOS_SECRET = "ios-secret-8d3b6a0c5e"
ANDROID_PACKAGE = "com.example.shop"
IOS_BUNDLE = "com.example.shop.ios"
ANDROID_APP = EmulatorApp(secret=ANDROID_SECRET, package=ANDROID_PACKAGE, platform="android")
IOS_APP = EmulatorApp(secret=IOS_SECRET, package=IOS_BUNDLE, platform="ios")


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    """Started once per test process; tests get it through :func:`fresh_emulator`."""
    with Emulator(apps=[ANDROID_APP, IOS_APP]) as server:
        yield server


@pytest.fixture
def fresh_emulator(emulator_server: Emulator) -> Iterator[Emulator]:
    """The shared emulator with no messages, no faults and every target known, before and after."""
    emulator_server.reset()
    emulator_server.set_known_targets(None)
    yield emulator_server
    emulator_server.reset()
    emulator_server.set_known_targets(None)
