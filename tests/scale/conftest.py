"""The scale-out suite: worker hosts in network namespaces (root and `ip netns` needed)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale import netns

HOSTS = 3


@pytest.fixture(scope="session")
def network() -> Iterator[netns.Network]:
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    netns.remove_stale()  # what an earlier, killed run left behind
    made = netns.Network(HOSTS)
    try:
        yield made.create()
    finally:
        made.destroy()
    # The kernel removes a namespace's devices asynchronously: give it a few seconds.
    deadline = time.monotonic() + 10
    while made.leftovers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert made.leftovers() == [], "namespaces or links left behind"


@pytest.fixture(scope="session")
def scale(network: netns.Network, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    server = os.environ.get("PUSHWORKER_TEST_DATABASE_URL", "")
    if not server.startswith(("postgres://", "postgresql://")):
        pytest.skip("needs PUSHWORKER_TEST_DATABASE_URL (PostgreSQL): hosts share no SQLite file")
    from tests.scale.stack import ScaleStack

    stack = ScaleStack(Path(tmp_path_factory.mktemp("scale")), network)
    try:
        yield stack
    finally:
        stack.close()


@pytest.fixture
def fresh(scale) -> Iterator[object]:
    scale.reset()
    try:
        yield scale
    finally:
        scale.stop_hosts()
