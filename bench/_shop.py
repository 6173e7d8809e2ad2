"""The benchmarks' shop: owners' phones (Android, iOS; alias, regid) and their visit events."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from _common import percentile

# Owner i's phones, by i % 4, so a backlog splits into five (platform, environment, target type)
# groups: half the owners have two phones, half one; a quarter of the phones use a regid.
SHAPES = (
    (("android", "production", "alias"), ("ios", "production", "regid")),
    (("android", "production", "regid"),),
    (("android", "production", "alias"), ("ios", "sandbox", "alias")),
    (("ios", "production", "alias"),),
)


def setup_django() -> None:
    """Django against this process's environment (bench/_stack.stack installed it), migrated."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import pushworker.celery  # noqa: F401 - the standalone app publishes


def register_devices(owners: int) -> int:
    """Phones for owners 0..owners-1 (idempotent across phases); how many phones exist."""
    from pushworker.store.models import PushDevice

    if not PushDevice.objects.exists():
        PushDevice.objects.bulk_create(
            PushDevice(
                user_id=str(i),
                app_name="qqc",
                os_type=platform,
                ios_environment=environment,
                registration_id=f"regid-{platform}-{i}" if target == "regid" else "",
            )
            for i in range(owners)
            for platform, environment, target in SHAPES[i % len(SHAPES)]
        )
    return PushDevice.objects.count()


def phones_per_event(events: int, owners: int, start: int = 0) -> int:
    """Messages the emulator should accept for ``events`` visits (one per phone of the owner)."""
    return sum(len(SHAPES[((start + i) % owners) % len(SHAPES)]) for i in range(events))


def visit(i: int, owners: int) -> None:
    """Visit number ``i`` to owner ``i % owners``, through the web path (``.delay()``)."""
    from pushworker.tasks import send_goods_visit

    send_goods_visit.delay(
        owner_id=str(i % owners),
        visitor_id=str(10_000 + i),
        goods_id=f"g-{i % 97}",
        goods_name="青花瓷碗",
        visitor_name="小明",
    )


def shipped(i: int, owners: int) -> None:
    """Order number ``i`` shipped to buyer ``i % owners`` (an urgent kind), through ``.delay()``."""
    from pushworker.tasks import send_order_shipped

    send_order_shipped.delay(
        buyer_id=str(i % owners), order_id=f"o-{i}", goods_name="青花瓷碗", carrier="顺丰速运"
    )


def fill(events: int, owners: int) -> float:
    """A backlog: ``events`` visits through ``.delay()``, their messages all in Redis; seconds."""
    from pushworker.producer import enqueue

    start = time.monotonic()
    for i in range(events):
        visit(i, owners)
    enqueue.flush(30)  # the publisher thread's last messages land before the queue is parked
    return time.monotonic() - start


def paced(rate: float, seconds: float) -> Iterator[int]:
    """Indexes 0, 1, … on a fixed schedule of ``rate`` per second for ``seconds``; a late
    producer does not sleep, so the schedule never drifts (the achieved rate is reported)."""
    start = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        wait = start + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # pacing the load, not waiting for a condition
        yield i


def span(since: object = None, kind: str | None = None) -> dict:
    """Over the deliveries created at or after ``since`` (of ``kind``): counts by status, the
    first claim, the last finish and the enqueue → finished latencies (s) of sent rows."""
    from django.db.models import Count, Max, Min

    from pushworker.store.models import Delivery

    rows = Delivery.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if kind is not None:
        rows = rows.filter(kind=kind)
    edges = rows.aggregate(first=Min("claimed_at"), last=Max("finished_at"))
    statuses = dict(rows.values_list("status").annotate(c=Count("id")).values_list("status", "c"))
    accepted = [
        (finished - created).total_seconds()
        for created, finished in rows.filter(status="sent").values_list("created_at", "finished_at")
    ]
    seconds = (
        (edges["last"] - edges["first"]).total_seconds()
        if edges["first"] and edges["last"]
        else float("nan")
    )
    return {
        "statuses": statuses,
        "seconds": seconds,
        "p50": percentile(accepted, 50) if accepted else float("nan"),
        "p99": percentile(accepted, 99) if accepted else float("nan"),
        "max": max(accepted, default=float("nan")),
        "first": edges["first"],
        "last": edges["last"],
        "sent": len(accepted),
    }


def finished(since: object = None, kind: str | None = None) -> int:
    """Deliveries in a terminal status, created at or after ``since`` (of ``kind``)."""
    from pushworker.store.models import TERMINAL_STATUSES, Delivery

    rows = Delivery.objects.filter(status__in=TERMINAL_STATUSES)
    rows = rows.filter(created_at__gte=since) if since is not None else rows
    return (rows.filter(kind=kind) if kind is not None else rows).count()


def requests(since: object, until: object) -> int:
    """Xiaomi requests started in [since, until): the attempt rows of one request share their
    ``started_at`` (store/attempts.py writes them in one statement), refused connections too."""
    from pushworker.store.models import DeliveryAttempt

    rows = DeliveryAttempt.objects.filter(started_at__gte=since, started_at__lt=until)
    return rows.values("started_at", "platform", "environment").distinct().count()


def wait_finished(done: int, cap: float, since: object = None, kind: str | None = None) -> bool:
    """Until ``done`` rows (created since ``since``, of ``kind``) have finished, at most ``cap``
    seconds; whether they did."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        if finished(since, kind) >= done:
            return True
        time.sleep(0.1)  # the poll shares the worker's CPUs; times come from timestamps
    return False


@contextlib.contextmanager
def opened(database: str, log_level: str, owners: int) -> Iterator[tuple[Path, dict, str]]:
    """A private stack (``_stack.stack``) with Django set up and the owners' phones registered."""
    from _stack import stack

    with stack(database, log_level) as (tmp, env, label):
        setup_django()
        register_devices(owners)
        yield tmp, env, label
