"""Recipients' preferences and daily summaries (issue 23): the two goals `make bench` prints.

Usage: python bench/summaries.py [--summaries 100000] [--latency-ms 100] [--batches 20]
                                 [--ios-share 0.2] [--database sqlite|postgres] [--cap 900]

A private redis-server, the emulator (its real command line) and a fresh database, as drain.py.

1. **Preferences' CPU per event in a batch.** In this process, ``engine.run`` delivers claimed
   batches of ``BATCH_SIZE`` goods visits to 200 owners who each chose something that leaves the
   visit going out (their own time zone and quiet hours outside now, and ``order_shipped`` off
   under ``UNMUTABLE=none``), so every event walks the whole preference path and is still sent.
   Batches alternate with batches whose preference read is replaced by "nobody chose anything"
   (no query); the difference of the median CPU per event (``time.process_time``: the engine,
   SQLite and the HTTP client; the emulator is another process) is the preferences' cost. The
   read alone (one query and a lookup per event) is timed on its own too.
2. **Summaries due in one hour.** N recipients chose a daily summary of goods visits, each with
   two visits held for it and one phone (Android regid, or iOS regid for ``--ios-share`` of
   them). All N are made due at once (the worst case: the hour's spread, which the table also
   shows, puts about a twelfth in each five-minute slot). A real worker (``celery worker -P
   prefork -c 2``, no beat) is handed one ``pushworker.send_daily_summaries`` message, with the
   emulator answering every request after ``--latency-ms``; the wall time until the last summary
   is sent, the Xiaomi requests per summary and the worker's CPU are read. ``--summaries`` below
   100,000 scales the time up linearly to 100,000 (the cost per summary is flat: chunks of 1,000
   recipients, drains of ``BATCH_SIZE``), and says so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _shop  # noqa: E402
from _common import redis_binary, versions  # noqa: E402
from _stack import Emulator, cpu_seconds, result, stack, start_worker, stop, wait_ready  # noqa: E402

GOAL_CPU_MS = 0.1
GOAL_REQUESTS = 0.01
HOUR = 3600.0
FULL = 100_000


# -- 1. preferences' CPU per event in a batch -----------------------------------------------------


def preference_cost(batches: int, owners: int = 200) -> dict:
    from datetime import time as clock

    from django.utils import timezone

    from pushworker import conf
    from pushworker.delivery import engine, preferences, service
    from pushworker.events import GoodsVisit
    from pushworker.store import deliveries
    from pushworker.store.models import Delivery, Preference, PushDevice, Recipient

    settings = conf.get()
    PushDevice.objects.bulk_create(
        PushDevice(user_id=f"p{i}", app_name="qqc", os_type="android") for i in range(owners)
    )
    hour = timezone.now().astimezone(settings.app(None).policy.zone).hour
    quiet = (clock((hour + 3) % 24), clock((hour + 4) % 24))  # outside now: the visit goes out
    Recipient.objects.bulk_create(
        Recipient(
            user_id=f"p{i}",
            app_name="qqc",
            time_zone="Europe/Berlin",
            quiet_start=quiet[0],
            quiet_end=quiet[1],
        )
        for i in range(owners)
    )
    Preference.objects.bulk_create(
        Preference(recipient=r, kind="order_shipped", mode="off") for r in Recipient.objects.all()
    )
    real = preferences.Preferences.of
    per_event: dict[str, list[float]] = {"chosen": [], "unread": []}
    read_only: list[float] = []
    size = settings.batch_size
    for n in range(2 * batches):
        events = [
            GoodsVisit.from_call(f"p{i % owners}", f"v{n}-{i}", f"g{i % 7}", "青花瓷碗", "小明")
            for i in range(size)
        ]
        deliveries.insert_many(events, "qqc", published=False)
        rows = service.claim(f"bench-{n}", settings).rows
        mode = "chosen" if n % 2 == 0 else "unread"
        if mode == "unread":  # nobody chose anything: no read, no choice to apply
            preferences.Preferences.of = lambda self, delivery: preferences.NONE
        try:
            started = time.process_time()
            report = engine.run(rows, settings)
            per_event[mode].append((time.process_time() - started) * 1000 / len(rows))
        finally:
            preferences.Preferences.of = real
        assert report.counts == {"sent": len(rows)}, report.counts
        if mode == "chosen":
            started = time.process_time()
            view = preferences.Preferences(rows)
            chosen = [view.of(row) for row in rows]
            read_only.append((time.process_time() - started) * 1000 / len(rows))
            assert all(c.quiet_hours == quiet for c in chosen)
    Delivery.objects.all().delete()
    Recipient.objects.all().delete()
    PushDevice.objects.all().delete()
    chosen_ms, unread_ms = (statistics.median(per_event[k]) for k in ("chosen", "unread"))
    return {
        "batch": size,
        "batches": batches,
        "chosen_ms": chosen_ms,
        "unread_ms": unread_ms,
        "cost_ms": chosen_ms - unread_ms,
        "read_ms": statistics.median(read_only),
    }


# -- 2. summaries due in one hour -----------------------------------------------------------------


def recipients(count: int, ios_share: float) -> dict:
    """``count`` recipients who summarize goods visits, two held visits each, one phone each."""
    from datetime import date

    from django.utils import timezone

    from pushworker import conf
    from pushworker.events import daily_summary
    from pushworker.store.models import Delivery, Preference, PushDevice, Recipient

    settings = conf.get()
    app = settings.app(None)
    ios_every = round(1 / ios_share) if ios_share > 0 else 0
    started = time.monotonic()
    step = 5000
    for first in range(0, count, step):
        ids = range(first, min(first + step, count))
        PushDevice.objects.bulk_create(
            PushDevice(
                user_id=f"r{i}",
                app_name="qqc",
                os_type="ios" if ios_every and i % ios_every == 0 else "android",
                registration_id=f"regid-{i}",
            )
            for i in ids
        )
        Recipient.objects.bulk_create(
            Recipient(user_id=f"r{i}", app_name="qqc", summary_day=timezone.localdate())
            for i in ids
        )
    found = Recipient.objects.values_list("pk", flat=True)
    for first in range(0, count, step):
        Preference.objects.bulk_create(
            Preference(recipient_id=pk, kind="goods_visit", mode="daily_summary")
            for pk in found[first : first + step]
        )
    ended = timezone.now() - timedelta(minutes=1)
    for first in range(0, count, step):
        Delivery.objects.bulk_create(
            Delivery(
                event_id=uuid.uuid4(),
                kind="goods_visit",
                app_name="qqc",
                recipient_id=f"r{i}",
                subject_id=f"g{i % 5}",
                payload={"visitor_id": f"v{i}-{n}", "goods_id": f"g{i % 5}", "goods_name": "碗"},
                status="suppressed",
                error_category="summary_pending",
                finished_at=ended,
            )
            for i in range(first, min(first + step, count))
            for n in range(2)
        )
    # The spread an hour's recipients would get (here they are all made due at once instead).
    slots: dict[int, int] = {}
    for i in range(min(count, 20_000)):
        key = daily_summary.slot_key("qqc", f"r{i}")
        moment = daily_summary.due(
            date(2026, 12, 1), 20, app.policy.zone, None, settings.summary_slot, key
        )
        slots[moment.minute] = slots.get(moment.minute, 0) + 1
    return {
        "fill_s": time.monotonic() - started,
        "slots": len(slots),
        "largest_slot_share": max(slots.values()) / sum(slots.values()),
    }


def summaries_due(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict:
    from django.db.models import Max, Min
    from django.utils import timezone

    from pushworker.celery import app as celery_app
    from pushworker.celery import worker_command
    from pushworker.store.models import Delivery, Recipient

    spread = recipients(args.summaries, args.ios_share)
    emulator = Emulator.from_env()
    log = tmp / "worker.log"
    worker = start_worker(worker_command("bench-summaries", concurrency=2), env, tmp, log)
    try:
        wait_ready(worker, log)
        emulator.reset()
        emulator.latency(args.latency_ms)
        cpu_idle = cpu_seconds(worker.pid)
        Recipient.objects.update(summary_due_at=timezone.now())
        started_at, t0 = timezone.now(), time.monotonic()
        celery_app.send_task("pushworker.send_daily_summaries")
        sent = Delivery.objects.filter(kind="daily_summary", status="sent")
        while time.monotonic() - t0 < args.cap and worker.poll() is None:
            if sent.count() >= args.summaries:
                break
            time.sleep(0.5)  # the poll shares the worker's CPUs; times come from the rows
        cpu = cpu_seconds(worker.pid) - cpu_idle
    finally:
        stop(worker)
    stats = emulator.stats()
    made = Delivery.objects.filter(kind="daily_summary")
    edges = made.aggregate(first=Min("created_at"), made=Max("created_at"), last=Max("finished_at"))
    done = made.filter(status="sent").count()
    seconds = (edges["last"] - started_at).total_seconds() if edges["last"] else float("nan")
    return {
        **spread,
        "summaries": args.summaries,
        "made": made.count(),
        "sent": done,
        "seconds": seconds,
        "making_s": (edges["made"] - started_at).total_seconds() if edges["made"] else 0.0,
        "requests": stats["requests"],
        "messages": stats["messages"],
        "requests_per_summary": stats["requests"] / max(done, 1),
        "cpu_ms_per_summary": cpu * 1000 / max(done, 1),
        "latency_ms": args.latency_ms,
        "ios_share": args.ios_share,
        "scaled_seconds": seconds * FULL / max(done, 1),
    }


def rows(found: dict) -> list[list[str]]:
    """The two `make bench` rows (bench/run.py prints them with the others)."""
    p, s = found["preferences"], found["summaries"]
    scaled = s["summaries"] < FULL
    within = s["scaled_seconds"] if scaled else s["seconds"]
    how = f"scaled ×{FULL / max(s['sent'], 1):,.1f} from {s['sent']:,}" if scaled else "measured"
    return [
        [
            f"preferences' CPU per event in a batch of {p['batch']}, SQLite",
            f"{p['cost_ms']:+.3f} ms (read alone {p['read_ms']:.3f} ms)",
            f"nobody chose: {p['unread_ms']:.3f} ms/event; chose: {p['chosen_ms']:.3f}",
            "",
            f"≤ {GOAL_CPU_MS} ms",
            "yes" if p["cost_ms"] <= GOAL_CPU_MS else "**no**",
        ],
        [
            f"100,000 daily summaries due in one hour, {s['latency_ms']:g} ms latency, one node",
            f"{within:,.0f} s for 100,000 ({how}); {s['requests_per_summary']:.4f} requests each",
            f"{s['sent']:,}/{s['summaries']:,} sent, all due at once; the hour's {s['slots']} "
            f"slots hold ≤ {s['largest_slot_share']:.1%} each",
            f"{within / HOUR:.2f} of the hour",
            f"≤ 3,600 s, ≤ {GOAL_REQUESTS} requests each",
            "yes" if within <= HOUR and s["requests_per_summary"] <= GOAL_REQUESTS else "**no**",
        ],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--summaries", type=int, default=FULL)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--batches", type=int, default=20, help="batches of each kind, part 1")
    parser.add_argument("--ios-share", type=float, default=0.2, help="recipients with an iPhone")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--cap", type=float, default=900.0, help="stop waiting after (s)")
    args = parser.parse_args()
    began = time.monotonic()
    print(f"summaries benchmark: {versions(redis_binary())}")
    with stack(args.database, "WARNING") as (tmp, env, label):
        env["PUSHWORKER_POLICY"] = "DEDUP_WINDOW=0,DAILY_CAP=0,UNMUTABLE=none"
        import os

        os.environ["PUSHWORKER_POLICY"] = env["PUSHWORKER_POLICY"]
        _shop.setup_django()
        found = {"preferences": preference_cost(args.batches)}
        found["summaries"] = summaries_due(args, tmp, env)
        found["database"] = label
    for row in rows(found):
        print(" | ".join(row))
    print(f"(total {time.monotonic() - began:.0f} s)")
    result(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
