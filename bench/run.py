"""`make bench`: every throughput benchmark, bounded, and the tables of results beside the goals.

Usage: python bench/run.py [--quick] [--events 5000] [--memory-events 20000]
                           [--outage-seconds 60]

Runs, each in its own process with its own private redis-server, emulator and fresh database
(PostgreSQL rows need a server: PUSHWORKER_BENCH_DATABASE_URL, default the local one; without it
they are left out): bench/enqueue.py, bench/naive.py, bench/drain.py (SQLite with
``--memory-events``, PostgreSQL with ``--events``, then SQLite with the emulator's latency at 20,
50 and 200 ms), bench/stream.py (10 events/s, and 80 % of the SQLite drain rate),
bench/summaries.py, bench/urgent.py, bench/blip.py and bench/outage.py (a shorter outage than
issue 24's ten minutes unless ``--outage-seconds 600``), then bench/copies.py's count. Each row's
baseline is measured in the same run. Two tables are printed as Markdown, issue 24's goals in its
order and the other measures (bench/README.md keeps the latest); goals are printed, never
asserted. ``--quick`` is the tiny run the tests make.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _goals  # noqa: E402 - issue 24's table
import copies  # noqa: E402
from _common import redis_binary, run_child, versions  # noqa: E402
from _others import LATENCIES, details, rows  # noqa: E402 - issues 9's table
from _stack import postgres_url  # noqa: E402
from summaries import rows as summary_rows  # noqa: E402 - issue 23's rows, its own script

HERE = Path(__file__).resolve().parent


def _run(script: str, args: list[str], env: dict[str, str], timeout: float) -> dict:
    began = time.monotonic()
    print(f"-- {script} {' '.join(args)}", flush=True)
    out = run_child(HERE / script, args, env, timeout)
    print(f"   {time.monotonic() - began:.0f} s", flush=True)
    return out


def measure(args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    server = postgres_url()
    env["PUSHWORKER_BENCH_DATABASE_URL"] = server or ""
    q = args.quick
    n, memory = (50, 60) if q else (args.events, args.memory_events)
    found: dict = {"postgres": server is not None}
    found["enqueue"] = _run(
        "enqueue.py",
        ["--calls", "60", "--warmup", "10", "--rounds", "2", "--paced-calls", "20"]
        + ["--failure-calls", "3"]
        if q
        else [],
        env,
        600,
    )
    found["naive"] = _run("naive.py", ["--events", str(n)], env, 300)
    calls = ["--baseline-calls", "50" if q else "2000"]
    found["sqlite"] = _run(
        "drain.py",
        ["--database", "sqlite", "--events", str(memory), "--cap", "300", *calls],
        env,
        900,
    )
    if server:
        found["pg"] = _run(
            "drain.py",
            ["--database", "postgres", "--events", str(n), "--cap", "180", *calls],
            env,
            600,
        )
    found["sweep"] = [
        _run(
            "drain.py",
            [
                "--events",
                "40" if q else "2000",
                "--cap",
                "5" if q else "20",
                "--latency-ms",
                str(ms),
                "--baseline-calls",
                "0",
            ],
            env,
            300,
        )
        for ms in LATENCIES
    ]
    capacity = found["sqlite"]["rate"]
    found["stream"] = _run(
        "stream.py",
        [
            "--rates",
            f"10,{0.8 * capacity:.0f}",
            "--seconds",
            "1" if q else "20",
            *(["--warmup", "5"] if q else []),
        ],
        env,
        600,
    )
    # Preferences' CPU per event, and 100,000 summaries in an hour scaled from 20,000 (~1.5 min).
    size = ["--summaries", "300", "--batches", "3"] if q else ["--summaries", "20000"]
    found["summaries"] = _run("summaries.py", size, env, 900)
    # Issue 24's new rows: an urgent event behind a bulk backlog, a blip, an outage in a stream.
    found["urgent"] = _run(
        "urgent.py", ["--events", "300", "--urgent", "3", "--every", "0.1"] if q else [], env, 600
    )
    found["blip"] = _run(
        "blip.py", ["--events", "300", "--blip-seconds", "1"] if q else [], env, 600
    )
    outage = 2.0 if q else args.outage_seconds
    lead = ["--lead", "1", "--tail", "1"] if q else []
    # Two modes, each a stream of lead + outage + tail and at most outage + 120 s to recover.
    found["outage"] = _run(
        "outage.py", ["--outage-seconds", f"{outage:g}", *lead], env, 2 * (2 * outage + 130) + 120
    )
    found["copies"] = copies.measure()
    return found


def markdown(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.node()}: {os.cpu_count()} × {model}, {platform.platform()}, load {load:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does everything run?")
    parser.add_argument("--events", type=int, default=5000, help="PostgreSQL drain, naive peer")
    parser.add_argument("--memory-events", type=int, default=20000, help="SQLite drain")
    parser.add_argument(
        "--outage-seconds",
        type=float,
        default=60.0,
        help="Xiaomi's outage in bench/outage.py; issue 24's is 600 (make faults-report runs it)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    found = measure(args)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except OSError:
        commit = "?"
    print(f"\n{when}, commit {commit}; {machine()}")
    print(f"{versions(redis_binary())}; {found['sqlite']['database']}", end="")
    print(f"; {found['pg']['database']}" if "pg" in found else "; no PostgreSQL")
    print(
        "worker: celery -A pushworker worker -P prefork -c 2 (no beat), defaults but "
        "PUSHWORKER_POLICY=off; rates from first claim to last finish (start-up not counted)\n"
    )
    print("Issue 24's goals:\n")
    print(markdown(_goals.HEADERS, _goals.rows(found)))
    print("\nThe other measures (issues 9 and 23):\n")
    print(markdown(_goals.HEADERS, rows(found) + summary_rows(found["summaries"])))
    print("\n" + "\n".join(f"- {line}" for line in details(found)))
    print(f"\n(make bench: {time.monotonic() - started:.0f} s; compare ratios, not absolute rates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
