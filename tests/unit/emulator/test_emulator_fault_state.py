"""FaultState: script before rate, scopes, and the JSON form the admin route speaks."""

from __future__ import annotations

import random

import pytest

from pushworker.emulator import Faults
from pushworker.emulator.faults import FaultState, channel_exceed_quota


def test_the_script_is_consumed_before_the_fail_rate_applies() -> None:
    state = FaultState(Faults(script=("10002", "ok"), fail_rate=1.0, fail_with="reset"))
    assert [state.draw("production", ["a"]) for _ in range(3)] == ["10002", None, "reset"]


def test_a_fail_rate_fails_about_that_share_of_sends() -> None:
    state = FaultState(Faults(fail_rate=0.3, fail_with="http500"), rng=random.Random(7))
    failures = sum(state.draw("production", []) is not None for _ in range(2000))
    assert 500 < failures < 700


def test_out_of_scope_requests_neither_consume_the_script_nor_wait() -> None:
    state = FaultState(Faults(script=("hang",), latency_ms=50, environment="sandbox", target="t"))
    assert state.draw("production", ["t"]) is None
    assert state.draw("sandbox", ["other"]) is None
    assert state.latency("sandbox", ["other"]) == 0
    assert state.latency("sandbox", ["t"]) == 0.05
    assert state.draw("sandbox", ["t"]) == "hang"


def test_faults_round_trip_through_json_and_refuse_unknown_keys() -> None:
    faults = Faults(latency_ms=5, script=("http503", "ok"), target="x")
    assert Faults.from_json(faults.to_json()) == faults
    with pytest.raises(ValueError, match="unknown fault settings: colour"):
        Faults.from_json({"colour": "red"})
    with pytest.raises(ValueError, match="latency_ms"):
        Faults.from_json({"latency_ms": True})


def test_channel_exceed_quota_counts_dropped_messages_per_channel_in_first_seen_order() -> None:
    assert channel_exceed_quota([None, "a", "", "a", "b"]) == "no_channel:2 a:2 b:1"
