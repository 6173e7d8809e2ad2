"""The benchmark scripts do not rot: a tiny run of each prints its numbers (none are asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import _reachable

BENCH = Path(__file__).parents[2] / "bench"


def _run(script: str, *args: str, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHWORKER_")}
    server = os.environ.get("PUSHWORKER_TEST_DATABASE_URL", "")
    if server.startswith(("postgres://", "postgresql://")) and _reachable(server):
        # The bench creates and drops its own database on that server; it connects to the
        # maintenance database for that, never to the tests' own.
        env["PUSHWORKER_BENCH_DATABASE_URL"] = server.rsplit("/", 1)[0] + "/postgres"
    else:
        env["PUSHWORKER_BENCH_DATABASE_URL"] = ""  # SQLite only
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH.parent,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout


@pytest.mark.timeout(900)  # a dozen scripts, each starting its own stack: minutes on a busy machine
def test_make_bench_in_miniature_prints_every_row_of_both_tables() -> None:
    # run.py --quick runs every part of make bench at tiny sizes, each as make bench does.
    out = _run("run.py", "--quick", timeout=900)
    goals, others = out.split("The other measures")
    for row in (  # issue 24's goals, in its order
        "| backlog drain vs single-send client loop, SQLite (60/60 events) |",
        "| urgent event during a 300-event bulk backlog, enqueue → sent",
        "| 1 s of HTTP 503 during a 300-event backlog, Xiaomi answering in 100 ms",
        "| Xiaomi down (refused connections) during a 2 events/s stream",
        "| Xiaomi down (HTTP 503) during a 10 events/s stream",
        "| `.delay()` p50 vs stock `apply_async`, SQLite, a message per event, back to back |",
        "| `.delay()` p50 vs stock `apply_async`, SQLite, a message per event, paced |",
        "| low-load stream 10/s, enqueue → accepted, SQLite |",
        "| copies of send/record/policy logic",
    ):
        assert row in goals, row
    for row in (
        "| backlog drain, SQLite, vs naive peer |",
        "| stream ",
        "| provider latency 20 ms",
        "| provider latency 200 ms",
        "| worker CPU per event, SQLite |",
        "| Xiaomi requests per event in a backlog, SQLite |",
        "| worker USS after",
        "| preferences' CPU per event in a batch of 200, SQLite |",
        "| 100,000 daily summaries due in one hour, 100 ms latency, one node |",
    ):
        assert row in others, row
    if os.environ.get("PUSHWORKER_TEST_DATABASE_URL", "").startswith("postgres"):
        assert "| backlog drain vs single-send client loop, PostgreSQL (50/50 events) |" in goals
        assert "| `.delay()` p50 vs stock `apply_async`, PostgreSQL" in goals
        assert "| `.delay()` (ENQUEUE_COMMIT=async), PostgreSQL" in others


def test_the_end_to_end_script_drains_a_few_events() -> None:
    assert "end to end: worker drains 30 pre-filled events" in _run(
        "e2e.py", "--events", "30", "--client-calls", "30"
    )


def test_the_emulator_throughput_script_measures_both_servers() -> None:
    assert "ratio emulator / bare aiohttp" in _run(
        "emulator_rps.py", "--requests", "200", "--seconds", "1"
    )


def test_the_fault_report_lists_its_scenarios() -> None:
    assert "poison_message" in _run("faults.py", "--list")
