"""`make bench`: every throughput benchmark, bounded, and one table of ratios beside the goals.

Usage: python bench/run.py [--quick] [--events 5000] [--memory-events 20000]

Runs, each in its own process with its own private redis-server, emulator and fresh database
(PostgreSQL rows need a server: PUSHWORKER_BENCH_DATABASE_URL, default the local one; without it
they are left out): bench/enqueue.py, bench/naive.py, bench/drain.py (SQLite with
``--memory-events``, PostgreSQL with ``--events``, then SQLite with the emulator's latency at 20,
50 and 200 ms) and bench/stream.py (10 events/s, and 80 % of the SQLite drain rate). Each row's
baseline is measured in the same run. The table is printed as Markdown (bench/README.md keeps
the latest); goals are printed, never asserted. ``--quick`` is the tiny run the tests make.
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
from _common import redis_binary, run_child, versions  # noqa: E402
from _stack import postgres_url  # noqa: E402
from summaries import rows as summary_rows  # noqa: E402 - issue 23's rows, its own script

HERE = Path(__file__).resolve().parent
LATENCIES = (20, 50, 200)


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
    return found


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rows(f: dict, concurrency: int = 2) -> list[list[str]]:
    out = []
    naive = f["naive"]
    for key, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        if key not in f:
            continue
        d = f[key]
        events = f"{d['finished']:,}/{d['events']:,} events"
        ratio = d["rate"] / d["loop_rate"]
        out.append(
            [
                f"backlog drain, {name} ({events})",
                f"{d['rate']:,.0f} events/s",
                f"client loop {d['loop_rate']:,.0f} sends/s",
                f"{ratio:.2f}×",
                "≥ 1.0×",
                _met(ratio >= 1.0),
            ]
        )
        ratio = d["rate"] / naive["rate"]
        out.append(
            [
                f"backlog drain, {name}, vs naive peer",
                f"{d['rate']:,.0f} events/s",
                f"naive task {naive['rate']:,.0f} events/s",
                f"{ratio:.2f}×",
                "≥ 2×",
                _met(ratio >= 2.0),
            ]
        )
    for s in f["stream"]["rows"]:
        label = "10 events/s" if s["rate"] == 10 else f"{s['rate']:,.0f} events/s (80 % of drain)"
        goal = s["rate"] == 10
        out.append(
            [
                f"stream {label}, SQLite: enqueue → accepted",
                f"p50 {s['p50'] * 1000:.1f} ms, p99 {s['p99'] * 1000:.1f} ms",
                f"produced {s['achieved']:,.1f}/s, {s['events']:,} events",
                "",
                "p99 ≤ 30 ms" if goal else "–",
                _met(s["p99"] <= 0.03) if goal else "",
            ]
        )
    ceiling = f["sqlite"]["rate"]
    for ms, d in zip(LATENCIES, f["sweep"], strict=True):
        pool = concurrency / (ms / 1000)
        bound = min(pool, ceiling)
        ratio = d["rate"] / bound
        out.append(
            [
                f"provider latency {ms} ms, SQLite ({d['finished']:,} events)",
                f"{d['rate']:,.0f} events/s, {d['requests_rate']:,.0f} requests/s",
                f"min({concurrency}/{ms} ms = {pool:,.0f}, CPU {ceiling:,.0f}) = {bound:,.0f}/s",
                f"{ratio:.2f}× (requests {d['requests_rate'] / pool:.2f}×)",
                "≥ 0.9×",
                _met(ratio >= 0.9),
            ]
        )
    for key, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        if key in f:
            d = f[key]
            out.append(
                [
                    f"worker CPU per event, {name}",
                    f"{d['cpu_ms_per_event']:.2f} ms",
                    f"naive task {naive['cpu_ms_per_event']:.2f} ms",
                    f"{d['cpu_ms_per_event'] / naive['cpu_ms_per_event']:.2f}×",
                    "≤ 1 ms",
                    _met(d["cpu_ms_per_event"] <= 1.0),
                ]
            )
    for key, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        if key in f:
            d = f[key]
            out.append(
                [
                    f"Xiaomi requests per event in a backlog, {name}",
                    f"{d['requests_per_event']:.3f}",
                    f"single sends: {d['phones'] / d['events']:.2f} (one per phone)",
                    f"{d['requests'] / d['phones']:.3f}×",
                    "≤ 0.05",
                    _met(d["requests_per_event"] <= 0.05),
                ]
            )
    d = f["sqlite"]
    growth = d["uss_done"] / d["uss_idle"] - 1
    out.append(
        [
            f"worker USS after {d['finished']:,} events, SQLite",
            f"{d['uss_done'] / 2**20:.1f} MiB",
            f"idle {d['uss_idle'] / 2**20:.1f} MiB (half-way {d['uss_warm'] / 2**20:.1f})",
            f"{growth:+.1%} ({d['uss_done'] / d['uss_warm'] - 1:+.1%})",
            "≤ +10 %",
            _met(growth <= 0.10),
        ]
    )
    for e in f["enqueue"].values():
        database = e["database"].split(" (")[0]
        # Back to back (a batch script) and paced (a web thread between requests); the
        # asynchronous commit is measured on PostgreSQL only.
        for how, d in (("back to back", e), ("paced", e["paced"])):
            stock = d["apply_async"]
            for mode, name in (("always", "outbox on"), ("asynchronous", "ENQUEUE_COMMIT=async")):
                if mode not in d:
                    continue
                ratio, p99 = d[mode]["p50"] / stock["p50"], d[mode]["p99"] * 1000
                out.append(
                    [
                        f"`.delay()` ({name}), {database}, {how}",
                        f"p50 {d[mode]['p50'] * 1000:.3f} ms, p99 {p99:.3f} ms; CPU "
                        f"{d[mode]['cpu'] * 1000:.2f} ms/call (caller "
                        f"{d[mode]['caller_cpu'] * 1000:.2f})",
                        f"apply_async p50 {stock['p50'] * 1000:.3f} ms, p99 "
                        f"{stock['p99'] * 1000:.3f} ms; CPU {stock['cpu'] * 1000:.2f} ms/call",
                        f"{ratio:.2f}× (p99 {d[mode]['p99'] / stock['p99']:.2f}×)",
                        "≤ 1.5×, p99 ≤ 2 ms",
                        _met(ratio <= 1.5 and p99 <= 2.0),
                    ]
                )
    return out


def details(f: dict) -> list[str]:
    """What the table leaves out: wall times that include start-up, pre-fill, early finishes."""
    n = f["naive"]
    out = [
        f"naive peer: {n['done']:,} events, {n['rate']:,.0f}/s first start → last finish, "
        f"{n['wall_rate']:,.0f}/s from giving the queue back, "
        f"{n['events'] / n['startup_wall']:,.0f}/s including its worker's start-up "
        f"({n['startup_wall']:.1f} s)"
    ]
    for key in ("sqlite", "pg"):
        if key in f:
            d = f[key]
            out.append(
                f"{d['database']}: drain {d['wall_rate']:,.0f}/s from giving the queue back "
                f"(worker ready in {d['ready_s']:.1f} s, not counted); pre-fill of "
                f"{d['events']:,} .delay() {d['fill_s']:.1f} s; {d['messages']:,} messages for "
                f"{d['phones']:,} phones; finished before the queue came back: {d['early']}; "
                f"statuses {d['statuses']}"
            )
    for d in f["sweep"]:
        out.append(
            f"latency {d['latency_ms']:g} ms: {d['finished']:,}/{d['events']:,} events finished, "
            f"drained for {d['wall']:.0f} s (cap {d['cap']:g}), "
            f"{d['requests_per_event']:.3f} requests/event"
        )
    return out


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
    headers = ["measure", "result", "baseline (same run)", "ratio", "goal", "met"]
    print(markdown(headers, rows(found) + summary_rows(found["summaries"])))
    print("\n" + "\n".join(f"- {line}" for line in details(found)))
    print(f"\n(make bench: {time.monotonic() - started:.0f} s; compare ratios, not absolute rates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
