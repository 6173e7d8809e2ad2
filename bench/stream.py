"""A steady stream of visits into a running worker: enqueue → accepted latency p50/p99 per rate.

Usage: python bench/stream.py [--rates 10,200] [--seconds 20] [--owners 200]
                              [--database sqlite|postgres]

A private redis-server, the emulator (its real command line), a fresh database and a running
``celery -A pushworker worker -P prefork -c 2``. For each rate in turn, producer processes (one
per 300 events/s, so the producer is not the limit) call ``send_goods_visit.delay()`` on a fixed
schedule for ``--seconds``; when every event of that rate has finished, the latency of each sent
delivery is its ``finished_at − created_at`` (the row is written by ``.delay()``, finished after
Xiaomi accepted it). The achieved producer rate is printed next to the asked one. Nothing is
asserted about time.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shop  # noqa: E402
from _common import ROOT, ms, redis_binary, versions  # noqa: E402
from _stack import result, stack, worker  # noqa: E402

PER_PRODUCER = 300  # events/s one producer process paces comfortably (a .delay() is ~1 ms)


def produce(rate: float, seconds: float, owners: int, offset: int) -> dict:
    """One producer process: ``rate`` visits a second for ``seconds``."""
    import django

    django.setup()
    import pushworker.celery  # noqa: F401 - the standalone app publishes

    start = time.monotonic()
    sent = 0
    for i in _shop.paced(rate, seconds):
        _shop.visit(offset + i, owners)
        sent += 1
    return {"sent": sent, "wall": time.monotonic() - start}


def one_rate(
    rate: float, args: argparse.Namespace, env: dict[str, str], seconds: float | None = None
) -> dict:
    from django.utils import timezone

    seconds = seconds or args.seconds
    since = timezone.now()
    # At most 4: producers share the worker's 2 CPUs (a .delay() costs ~1.5 ms of CPU), so the
    # achieved rate, printed beside the asked one, can fall short of a high rate.
    producers = min(4, max(1, math.ceil(rate / PER_PRODUCER)))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child-producer",
                str(rate / producers),
                "--seconds",
                str(seconds),
                "--owners",
                str(args.owners),
                "--offset",
                str(n),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(producers)
    ]
    outs = [
        json.loads(p.communicate(timeout=seconds + 120)[0].strip().splitlines()[-1]) for p in procs
    ]
    sent = sum(o["sent"] for o in outs)
    deadline = time.monotonic() + 60
    while _shop.finished(since) < sent and time.monotonic() < deadline:
        time.sleep(0.2)  # the poll shares the worker's CPUs; rates come from timestamps
    numbers = _shop.span(since)
    return {
        "rate": rate,
        "achieved": sent / max(o["wall"] for o in outs),
        "producers": producers,
        "events": sent,
        "statuses": numbers["statuses"],
        "p50": numbers["p50"],
        "p99": numbers["p99"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="10,200", help="events/s, comma-separated, in turn")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each stream")
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size (prefork)")
    parser.add_argument("--log-level", default="INFO", help="worker and pushworker log level")
    parser.add_argument("--warmup", type=float, default=20, help="events in 1 s first, unmeasured")
    parser.add_argument("--child-producer", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_producer:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(produce(args.child_producer, args.seconds, args.owners, args.offset)))
        return 0

    print(f"stream benchmark: {versions(redis_binary())}")
    rows = []
    with stack(args.database, args.log_level) as (tmp, env, label):
        _shop.setup_django()
        _shop.register_devices(args.owners)
        with worker(tmp, env, args.concurrency, args.log_level):
            one_rate(args.warmup, args, env, seconds=1.0)  # a warm worker, as in production
            for rate in (float(x) for x in args.rates.split(",")):
                rows.append(one_rate(rate, args, env))
    for r in rows:
        print(
            f"{label}: {r['rate']:g}/s asked, {r['achieved']:.1f}/s produced by {r['producers']}"
            f" process(es), {r['events']} events {r['statuses']}: enqueue → accepted p50 "
            f"{ms(r['p50'], 1)} ms, p99 {ms(r['p99'], 1)} ms"
        )
    result({"database": label, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
