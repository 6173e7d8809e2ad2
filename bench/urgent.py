"""An urgent event during a bulk backlog: "order shipped" enqueue → sent while goods visits drain.

Usage: python bench/urgent.py [--events 20000] [--urgent 10] [--every 0.3] [--owners 200]
                              [--database sqlite|postgres] [--cap 120]

A private redis-server, the emulator (its real command line), a fresh database. With no worker
running, ``--events`` goods visits go through ``send_goods_visit.delay()`` (a backlog); the queue's
list is parked, ``celery -A pushworker worker -P prefork -c 2 -B`` (one node, embedded beat as a
host runs it) starts, and the list is given back. Once the first goods visit has finished,
``--urgent`` order-shipped events go through ``send_order_shipped.delay()``, one every
``--every`` seconds, while the backlog drains. Reported: each urgent row's enqueue → sent
(``finished_at − created_at``) p50 and max, and the goods visits still ahead of the first one.
The worker is stopped once the urgent events are done: the rest of the backlog is not measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shop  # noqa: E402
from _common import ms, redis_binary, versions  # noqa: E402
from _stack import park, result, stack, unpark, worker  # noqa: E402

BULK, URGENT = "goods_visit", "order_shipped"


def wait_for(done: int, kind: str, cap: float, since: object = None) -> bool:
    """Until ``done`` rows of ``kind`` (created since ``since``) have finished, at most ``cap``
    seconds; whether they did."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        if _shop.finished(since, kind) >= done:
            return True
        time.sleep(0.1)  # the poll shares the worker's CPUs; latencies come from timestamps
    return False


def measure(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict:
    from django.utils import timezone

    fill = _shop.fill(args.events, args.owners)
    park(env["PUSHWORKER_BROKER_URL"])
    with worker(tmp, env, args.concurrency, args.log_level, beat=True):
        unpark(env["PUSHWORKER_BROKER_URL"])
        wait_for(1, BULK, args.cap)  # the drain is under way
        since = timezone.now()
        ahead = args.events - _shop.finished(kind=BULK)
        for i in _shop.paced(1 / args.every, args.urgent * args.every):
            _shop.shipped(i, args.owners)
        complete = wait_for(args.urgent, URGENT, args.cap, since)
        bulk_done = _shop.finished(kind=BULK)
    urgent = _shop.span(since, URGENT)
    return {
        "events": args.events,
        "urgent": args.urgent,
        "every": args.every,
        "ahead": ahead,
        "bulk_done": bulk_done,
        "complete": complete,
        "statuses": urgent["statuses"],
        "p50": urgent["p50"],
        "max": urgent["max"],
        "fill_s": fill,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20000, help="goods visits in the backlog")
    parser.add_argument("--urgent", type=int, default=10, help="order-shipped events")
    parser.add_argument("--every", type=float, default=0.3, help="seconds between them")
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cap", type=float, default=120.0, help="longest wait for each stage (s)")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size (prefork)")
    parser.add_argument("--log-level", default="INFO", help="worker and pushworker log level")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"urgent benchmark: {versions(redis_binary())}")
    with stack(args.database, args.log_level) as (tmp, env, label):
        _shop.setup_django()
        _shop.register_devices(args.owners)
        numbers = measure(args, tmp, env) | {"database": label}
    print(
        f"{label}: {numbers['urgent']} order-shipped events, one every {args.every:g} s, with "
        f"{numbers['ahead']:,} of {args.events:,} goods visits ahead: enqueue → sent p50 "
        f"{ms(numbers['p50'], 0)} ms, max {ms(numbers['max'], 0)} ms; statuses "
        f"{numbers['statuses']}; {numbers['bulk_done']:,} goods visits finished by then"
    )
    print(f"(total {time.monotonic() - started:.0f} s)")
    result(numbers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
