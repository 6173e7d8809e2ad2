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
from _common import ms, redis_binary, stack_options, versions  # noqa: E402
from _stack import park, result, unpark, worker  # noqa: E402

BULK, URGENT = "goods_visit", "order_shipped"


def measure(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict:
    from django.utils import timezone

    fill = _shop.fill(args.events, args.owners)
    park(env["PUSHWORKER_BROKER_URL"])
    with worker(tmp, env, args.concurrency, args.log_level, beat=True):
        unpark(env["PUSHWORKER_BROKER_URL"])
        _shop.wait_finished(1, args.cap, kind=BULK)  # the drain is under way
        since = timezone.now()
        ahead = args.events - _shop.finished(kind=BULK)
        for i in _shop.paced(1 / args.every, args.urgent * args.every):
            _shop.shipped(i, args.owners)
        complete = _shop.wait_finished(args.urgent, args.cap, since, URGENT)
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
    stack_options(parser, cap=120.0)
    args = parser.parse_args()
    started = time.monotonic()
    print(f"urgent benchmark: {versions(redis_binary())}")
    with _shop.opened(args.database, args.log_level, args.owners) as (tmp, env, label):
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
