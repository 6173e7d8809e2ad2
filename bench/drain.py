"""Backlog drain: events/s, CPU, requests and memory of a real worker, beside the client loop.

Usage: python bench/drain.py [--events 5000] [--owners 200] [--database sqlite|postgres]
                             [--latency-ms 0] [--cap 120] [--baseline-calls 2000]

A private redis-server, the emulator (its real command line) and a fresh database. With no worker
running, N goods-visit events go through ``send_goods_visit.delay()`` for 200 owners with one or
two phones (Android and iOS, alias and regid: five groups). The queue's list is then parked (one
RENAME), ``celery -A pushworker worker -P prefork -c 2`` starts and idles on the empty queue (its
CPU time and USS are read there), the list is given back and the worker drains. Reported, all
from the same run:

* rate = events / (last ``finished_at`` − first ``claimed_at``), from the database (start-up not
  counted), and the wall time from giving the queue back to the last finish;
* the worker's CPU (utime + stime of its process tree from /proc) per event, idle → drained;
* Xiaomi requests per event (the emulator's request counter) and messages accepted;
* the worker's USS (Private_Clean + Private_Dirty, summed over its processes) idle and drained;
* the baseline: ``Client.send_to_alias`` in a tight loop (1 loop, and ``-c`` loops in parallel).

``--latency-ms`` delays every emulator answer; ``--cap`` stops the drain after that many seconds
(the rate is then over the events finished). Nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shop  # noqa: E402
from _common import ms, percentile, redis_binary, versions  # noqa: E402
from _stack import (  # noqa: E402
    Emulator,
    cpu_seconds,
    park,
    result,
    stack,
    unpark,
    uss_bytes,
    worker,
)


def client_baseline(calls: int, concurrency: int) -> dict:
    """The single-send client loop (e2e.py's), 1 loop and ``concurrency`` loops in parallel."""
    import os

    import e2e

    if calls <= 0:
        return {}
    one = e2e.client_loop(calls)
    many_rate, many_lat = e2e._parallel_clients(concurrency, calls, dict(os.environ))
    return {
        "loop_rate": len(one["latencies"]) / one["wall"],
        "loop_p50": percentile(one["latencies"], 50),
        "loops_rate": many_rate,
        "loops_p50": percentile(many_lat, 50),
    }


def drain(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict:
    """Pre-fill, park, start the worker, read it idle, unpark, wait, read it drained."""
    emulator = Emulator.from_env()
    broker = env["PUSHWORKER_BROKER_URL"]
    fill = _shop.fill(args.events, args.owners)
    parked = park(broker)
    started = time.monotonic()
    with worker(tmp, env, args.concurrency, args.log_level) as process:
        ready = time.monotonic() - started
        time.sleep(0.5)  # let the pool children finish their own start-up before the idle reading
        early = _shop.finished()  # a worker that drains from the database without a message
        cpu_idle, uss_idle = cpu_seconds(process.pid), uss_bytes(process.pid)
        emulator.reset()
        emulator.latency(args.latency_ms)
        t0 = time.monotonic()
        unpark(broker)
        done, uss_warm = 0, 0
        while time.monotonic() - t0 < args.cap and process.poll() is None:
            done = _shop.finished()
            if done >= args.events:
                break
            if not uss_warm and done >= args.events // 2:
                # Half-way: past the first runs' lazy imports, pools and copy-on-write, so the
                # second half's growth is what a leak would show.
                uss_warm = uss_bytes(process.pid)
            time.sleep(0.2)  # the poll shares the worker's CPUs; rates come from timestamps
        wall = time.monotonic() - t0
        cpu_done, uss_done = cpu_seconds(process.pid), uss_bytes(process.pid)
        at_cap = _shop.finished()  # the events that CPU reading paid for
    # Read after the stop: a capped drain's last tasks finish during the warm shutdown, and the
    # span below, the finished count and the request count must cover the same events.
    stats = emulator.stats()
    done = _shop.finished()
    if process.returncode not in (0, -15) and done < args.events:
        log = tmp / "worker.log"
        raise SystemExit(f"worker exit {process.returncode}:\n{log.read_text()[-3000:]}")
    outcome = _shop.span()
    return {
        "events": args.events,
        "statuses": outcome["statuses"],
        "rate": done / outcome["seconds"],
        "finished": done,
        "seconds": outcome["seconds"],
        "wall": wall,
        "wall_rate": done / wall,
        "ready_s": ready,
        "fill_s": fill,
        "parked": parked,
        "early": early,
        "cpu_ms_per_event": (cpu_done - cpu_idle) * 1000 / max(at_cap, 1),
        "cpu_startup_s": cpu_idle,
        "requests": stats["requests"],
        "by_outcome": stats["by_outcome"],
        "messages": stats["messages"],
        "phones": _shop.phones_per_event(args.events, args.owners),
        "requests_per_event": stats["requests"] / max(done, 1),
        "requests_rate": stats["requests"] / outcome["seconds"],
        "uss_idle": uss_idle,
        "uss_done": uss_done,
        "uss_warm": uss_warm or uss_done,
        "latency_ms": args.latency_ms,
        "cap": args.cap,
        "concurrency": args.concurrency,
    }


def report(r: dict, label: str) -> None:
    print(f"\n{label}: {r['finished']}/{r['events']} events finished, statuses {r['statuses']}")
    if r.get("loop_rate"):
        print(
            f"  client loop {r['loop_rate']:,.0f} req/s (p50 {ms(r['loop_p50'])} ms); "
            f"{r['concurrency']} loops {r['loops_rate']:,.0f} req/s"
        )
    print(
        f"  drain {r['rate']:,.0f} events/s over {r['seconds']:.2f} s (first claim → last finish);"
        f" {r['wall_rate']:,.0f}/s over {r['wall']:.2f} s from giving the queue back"
    )
    print(
        f"  worker CPU {r['cpu_ms_per_event']:.2f} ms/event (start-up {r['cpu_startup_s']:.1f} s);"
        f" {r['requests']} Xiaomi requests ({r['requests_per_event']:.3f}/event,"
        f" {r['requests_rate']:,.0f}/s), {r['messages']} messages for {r['phones']} phones;"
        f" emulator latency {r['latency_ms']:g} ms"
    )
    print(
        f"  worker USS idle {r['uss_idle'] / 2**20:.1f} MiB, drained {r['uss_done'] / 2**20:.1f}"
        f" MiB ({r['uss_done'] / r['uss_idle'] - 1:+.1%}; {r['uss_done'] / r['uss_warm'] - 1:+.1%}"
        f" from {r['uss_warm'] / 2**20:.1f} MiB after the first tenth);"
        f" pre-fill {r['fill_s']:.1f} s; worker ready in {r['ready_s']:.1f} s;"
        f" finished before the queue came back: {r['early']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="emulator answer delay")
    parser.add_argument("--cap", type=float, default=120.0, help="stop the drain after (s)")
    parser.add_argument(
        "--baseline-calls", type=int, default=2000, help="client loop calls; 0: none"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size (prefork)")
    parser.add_argument("--log-level", default="INFO", help="worker and pushworker log level")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"drain benchmark: {versions(redis_binary())}")
    with stack(args.database, args.log_level) as (tmp, env, label):
        _shop.setup_django()
        _shop.register_devices(args.owners)
        baseline = client_baseline(args.baseline_calls, args.concurrency)
        numbers = baseline | drain(args, tmp, env) | {"database": label}
    report(numbers, label)
    print(f"(total {time.monotonic() - started:.0f} s; compare ratios, not absolute rates)")
    result(numbers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
