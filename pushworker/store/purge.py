"""The bounded purge: delete finished deliveries, their attempts and dead letters past retention.

Each batch is one short transaction: select at most ``batch_size`` expired ids, oldest first
(``ORDER BY finished_at LIMIT n FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a second purge or an
admin action holding a row is stepped over, never waited for), count them into the daily
aggregate, delete their attempts, then the deliveries, commit. A purge that stops (time budget,
crash, deploy) has lost nothing: the next one starts again at the oldest remaining row.

Never deleted: a delivery that is not finished (``queued``, ``sending``, ``retrying``), whatever its
age; a row younger than its retention, which exceeds the redelivery horizon (conf/retention.py
states the rule, and a retried broker message that finds its row gone stops instead of sending:
``delivery.service.deliver(..., retried=True)``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from pushworker import conf
from pushworker.conf import retention as retention_settings
from pushworker.store.models import DeadLetter, Delivery, DeliveryAttempt, DeliveryStatus

log = logging.getLogger("pushworker.purge")

FINISHED = (DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED, DeliveryStatus.FAILED)
BATCH_SIZE = 1000
_UPSERT = """
INSERT INTO pushworker_dailyaggregate (day, app_name, platform, status, code, count)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (day, app_name, platform, status, code)
DO UPDATE SET count = pushworker_dailyaggregate.count + excluded.count
"""


@dataclass
class Report:
    """What a purge deleted (or, with ``dry_run``, would delete)."""

    dry_run: bool = False
    deliveries: int = 0
    attempts: int = 0
    dead_letters: int = 0
    aggregated: int = 0  # deliveries counted into the daily aggregate
    batches: int = 0
    seconds: float = 0.0
    complete: bool = True  # False: the time budget ran out; the next run resumes
    by_scope: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        rest = "" if self.complete else "; time budget reached, the next run continues"
        return (
            f"{verb} {self.deliveries} deliveries, {self.attempts} attempts, "
            f"{self.dead_letters} dead letters in {self.batches} batches "
            f"({self.seconds:.1f} s; {self.aggregated} counted in the daily aggregate){rest}"
        )


@dataclass(frozen=True)
class _Scope:
    name: str
    where: Q
    keep_aggregate: bool


def _scopes(
    rules: retention_settings.RetentionSettings, now: datetime, older_than: timedelta | None
) -> Iterator[_Scope]:
    """One scope per (app override or the default) × (finished, dead)."""
    overridden = list(rules.apps)
    groups = [(name, Q(app_name=name), rules.apps[name]) for name in overridden]
    groups.append(("default", ~Q(app_name__in=overridden), rules.default))
    for name, apps, rule in groups:
        finished = older_than or timedelta(days=rule.days)
        dead = older_than or timedelta(days=rule.dead_letter_days)
        yield _Scope(
            f"{name}:finished",
            apps & Q(status__in=FINISHED, finished_at__lt=now - finished),
            rule.keep_daily_aggregate,
        )
        yield _Scope(
            f"{name}:dead",
            apps & Q(status=DeliveryStatus.DEAD, finished_at__lt=now - dead),
            rule.keep_daily_aggregate,
        )


def _bound_locks() -> None:
    # A batch never waits long for a lock nor runs long: it gives up and the next run retries.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")
            cursor.execute("SET LOCAL statement_timeout = '60s'")


def _aggregate(ids: list[int]) -> int:
    """Add the deliveries ``ids`` to the daily aggregate (same transaction as their delete)."""
    rows = list(
        Delivery.objects.filter(pk__in=ids).values_list(
            "pk", "finished_at", "app_name", "status", "error_code"
        )
    )
    platforms: dict[int, set[str]] = {}
    for delivery_id, platform in DeliveryAttempt.objects.filter(delivery_id__in=ids).values_list(
        "delivery_id", "platform"
    ):
        platforms.setdefault(delivery_id, set()).add(platform)
    counts: Counter[tuple] = Counter()
    for pk, finished_at, app_name, status, code in rows:
        day = finished_at.astimezone(UTC).date()
        for platform in sorted(platforms.get(pk) or {""}):
            counts[(day, app_name, platform, status, code or 0)] += 1
    with connection.cursor() as cursor:
        cursor.executemany(_UPSERT, [(*key, n) for key, n in counts.items()])
    return len(rows)


def _batch(scope: _Scope, batch_size: int, report: Report) -> int:
    """Delete one batch of ``scope``; the number of deliveries deleted (0: nothing left)."""
    with transaction.atomic():
        _bound_locks()
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(scope.where)
            .order_by("finished_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        if scope.keep_aggregate:
            report.aggregated += _aggregate(ids)
        report.attempts += DeliveryAttempt.objects.filter(delivery_id__in=ids).delete()[0]
        deleted = Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)
    report.deliveries += deleted
    report.batches += 1
    report.by_scope[scope.name] = report.by_scope.get(scope.name, 0) + deleted
    return len(ids)


def _dead_letter_batch(cutoff: datetime, batch_size: int, report: Report) -> int:
    with transaction.atomic():
        _bound_locks()
        ids = list(
            DeadLetter.objects.select_for_update(skip_locked=True)
            .filter(received_at__lt=cutoff)
            .order_by("received_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if ids:
            report.dead_letters += DeadLetter.objects.filter(pk__in=ids).delete()[0]
            report.batches += 1
    return len(ids)


def purge(
    *,
    rules: retention_settings.RetentionSettings | None = None,
    older_than: timedelta | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    max_seconds: float | None = None,
    now: datetime | None = None,
) -> Report:
    """Delete everything past retention in batches of ``batch_size``; stop after ``max_seconds``.

    ``older_than`` replaces every retention (finished, dead, dead letters) for this run. With
    ``dry_run`` nothing is written: the report counts what would go.
    """
    rules = rules or retention_settings.get()
    if older_than is not None:
        horizon = retention_settings.redelivery_horizon_seconds(conf.get())
        if older_than.total_seconds() <= horizon:
            raise retention_settings.RetentionError(
                [f"--older-than must exceed the redelivery horizon ({horizon:.0f} s)"]
            )
    now = now or timezone.now()
    started = time.monotonic()
    report = Report(dry_run=dry_run)
    dead_letter_cutoff = now - (older_than or timedelta(days=rules.default.dead_letter_days))

    def more(step) -> bool:
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            report.complete = False
            return False
        return bool(step())

    for scope in _scopes(rules, now, older_than):
        if dry_run:
            expired = Delivery.objects.filter(scope.where)
            report.by_scope[scope.name] = count = expired.count()
            report.deliveries += count
            report.attempts += DeliveryAttempt.objects.filter(delivery__in=expired).count()
            continue
        while more(lambda scope=scope: _batch(scope, batch_size, report)):
            pass
    if dry_run:
        report.dead_letters = DeadLetter.objects.filter(received_at__lt=dead_letter_cutoff).count()
    else:
        while more(lambda: _dead_letter_batch(dead_letter_cutoff, batch_size, report)):
            pass
    report.seconds = time.monotonic() - started
    log.info(
        "purge",
        extra={
            "dry_run": dry_run,
            "deliveries": report.deliveries,
            "attempts": report.attempts,
            "dead_letters": report.dead_letters,
            "batches": report.batches,
            "complete": report.complete,
        },
    )
    return report


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m`` or ``45s`` (a bare number means days) as a timedelta."""
    units = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
    text = text.strip().lower()
    unit = text[-1] if text and text[-1] in units else "d"
    number = text[:-1] if text and text[-1] in units else text
    if not number.isdigit() or int(number) < 1:
        raise ValueError(f"--older-than must look like 30d, 12h, 90m or 45s, not {text!r}")
    return timedelta(seconds=int(number) * units[unit])
