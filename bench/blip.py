"""A Xiaomi blip during a backlog: seconds from the blip's end until every event is sent.

Usage: python bench/blip.py [--events 10000] [--blip-seconds 3] [--latency-ms 100]
                            [--blip-at 0.1] [--owners 200] [--database sqlite|postgres] [--cap 180]

A private redis-server, the emulator (its real command line), a fresh database. With no worker
running, ``--events`` goods visits go through ``send_goods_visit.delay()`` (a backlog); the queue's
list is parked, ``celery -A pushworker worker -P prefork -c 2 -B`` (embedded beat, as a host runs
it: the relay hands on retries whose time has come) starts, the emulator answers every request
after ``--latency-ms``, and the list is given back. Once ``--blip-at`` of the events have finished,
every request is answered HTTP 503 for ``--blip-seconds`` (the emulator's ``fail_rate`` fault),
then normally again. Reported: the last ``finished_at`` minus the blip's end, the Xiaomi requests
per event over the whole drain (the emulator's counter, 503s included) and the events left at the
blip's end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shop  # noqa: E402
from _common import redis_binary, stack_options, versions  # noqa: E402
from _stack import Emulator, park, result, unpark, worker  # noqa: E402


def measure(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict:
    from django.utils import timezone

    emulator = Emulator.from_env()
    broker = env["PUSHWORKER_BROKER_URL"]
    _shop.fill(args.events, args.owners)
    park(broker)
    with worker(tmp, env, args.concurrency, args.log_level, beat=True):
        emulator.reset()
        emulator.faults(latency_ms=args.latency_ms)
        unpark(broker)
        _shop.wait_finished(max(1, int(args.events * args.blip_at)), args.cap)
        blip_start = timezone.now()
        emulator.faults(latency_ms=args.latency_ms, fail_rate=1.0, fail_with="http503")
        time.sleep(args.blip_seconds)  # the blip's length: pacing the fault, not a wait
        emulator.faults(latency_ms=args.latency_ms)
        blip_end, left = timezone.now(), args.events - _shop.finished()
        complete = _shop.wait_finished(args.events, args.cap)
        stats = emulator.stats()
    outcome = _shop.span()
    return {
        "events": args.events,
        "blip_s": args.blip_seconds,
        "latency_ms": args.latency_ms,
        "complete": complete,
        "statuses": outcome["statuses"],
        "after_s": (outcome["last"] - blip_end).total_seconds(),
        "left": left,
        "started_s": (blip_start - outcome["first"]).total_seconds(),
        "requests": stats["requests"],
        "requests_per_event": stats["requests"] / args.events,
        "by_outcome": stats["by_outcome"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10000, help="goods visits in the backlog")
    parser.add_argument("--blip-seconds", type=float, default=3.0, help="HTTP 503 for this long")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="emulator answer delay")
    parser.add_argument("--blip-at", type=float, default=0.1, help="share finished before it")
    stack_options(parser, cap=180.0)
    args = parser.parse_args()
    started = time.monotonic()
    print(f"blip benchmark: {versions(redis_binary())}")
    with _shop.opened(args.database, args.log_level, args.owners) as (tmp, env, label):
        n = measure(args, tmp, env) | {"database": label}
    print(
        f"{label}: {args.blip_seconds:g} s of HTTP 503 during a {args.events:,}-event backlog "
        f"({n['left']:,} left at its end), emulator latency {args.latency_ms:g} ms: all sent "
        f"{n['after_s']:.1f} s after it (it began {n['started_s']:.1f} s into the drain); "
        f"{n['requests']:,} requests ({n['requests_per_event']:.3f}/event) {n['by_outcome']}; "
        f"statuses {n['statuses']}"
    )
    print(f"(total {time.monotonic() - started:.0f} s)")
    result(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
