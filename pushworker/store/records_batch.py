"""Bulk state writes of batch runs: claim a backlog, take over a dead run's rows, attempts, ends.

The same rows and meanings as :mod:`pushworker.store.records`, written for many deliveries per
statement:
a batch of a hundred events costs a handful of statements, not a hundred times eight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from pushworker.events import text
from pushworker.mipush import SendResult
from pushworker.ops import metrics
from pushworker.store import records
from pushworker.store.models import (
    AttemptStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)
from pushworker.store.records import Failure


def backlog(kinds: Iterable[str]) -> Q:
    """Rows no broker message carries: the outbox rows batch runs claim (partial index
    ``delivery_unpublished``)."""
    return Q(status=DeliveryStatus.QUEUED, published_at__isnull=True, kind__in=list(kinds))


def claim_backlog(run_id: str, limit: int, kinds: Iterable[str]) -> list[Delivery]:
    """Take up to ``limit`` of the oldest backlog rows for the run ``run_id``.

    The UPDATE checks the status again, so two runs racing for the same rows never both get one.
    """
    wanted = backlog(kinds)
    oldest = Delivery.objects.filter(wanted).order_by("created_at").values_list("pk", flat=True)
    alias = router.db_for_write(Delivery)
    now = timezone.now()
    changes = {"status": DeliveryStatus.SENDING, "claimed_at": now, "claimed_by": run_id}
    if not connections[alias].features.has_select_for_update_skip_locked:
        # SQLite runs writes one at a time: one statement is the whole claim.
        taken = Delivery.objects.filter(wanted, pk__in=oldest[:limit]).update(
            **changes, updated_at=now
        )
        return held_by(run_id) if taken else []
    # PostgreSQL: the ids first, locked, passing over rows another run is claiming (so parallel
    # runs each get a full batch), then the UPDATE by id. Not one UPDATE ... WHERE id IN (SELECT
    # ... LIMIT n FOR UPDATE SKIP LOCKED): a nested-loop plan runs that subquery once per row and
    # claims far more than n rows (seen with EXPLAIN ANALYZE: 2,000 rows for LIMIT 100).
    with transaction.atomic(using=alias):
        ids = list(oldest.select_for_update(skip_locked=True)[:limit])
        taken = Delivery.objects.filter(wanted, pk__in=ids).update(**changes, updated_at=now)
    return held_by(run_id) if taken else []


def held_by(run_id: str) -> list[Delivery]:
    return list(
        Delivery.objects.filter(claimed_by=run_id, status=DeliveryStatus.SENDING).order_by("pk")
    )


def take_over(run_id: str) -> list[Delivery]:
    """The rows a dead copy of this run left in ``sending``: each counts a crash."""
    rows = Delivery.objects.filter(claimed_by=run_id, status=DeliveryStatus.SENDING)
    taken = rows.update(
        crashes=F("crashes") + 1,
        redelivered=True,
        claimed_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return held_by(run_id) if taken else []  # every run asks: the usual answer costs one UPDATE


def release(deliveries: Sequence[Delivery]) -> None:
    """Hand claimed rows back as ``queued`` with a message each (a split batch: run them alone)."""
    now = timezone.now()
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=DeliveryStatus.QUEUED, claimed_by="", published_at=now, updated_at=now
    )


def devices_of(recipients: Iterable[str], app_name: str) -> dict[str, list[PushDevice]]:
    """Every recipient's active devices, most recently changed first, read in one query."""
    found: dict[str, list[PushDevice]] = {}
    for device in PushDevice.objects.filter(
        user_id__in=set(recipients), app_name=app_name, is_active=True
    ).order_by("-modify_time"):
        found.setdefault(device.user_id, []).append(device)
    return found


def start_attempts(
    entries: Sequence[tuple[Delivery, Any]], *, flag: Iterable[Delivery] = ()
) -> list[DeliveryAttempt]:
    """Record one request before it is made, one attempt row per delivery in it.

    ``flag``: deliveries the request may repeat (an earlier request may have reached Xiaomi).
    """
    flagged = [d.pk for d in flag]
    if flagged:
        Delivery.objects.filter(pk__in=flagged).update(possible_duplicate=True)
    Delivery.objects.filter(pk__in=[d.pk for d, _ in entries]).update(attempts=F("attempts") + 1)
    return DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery=delivery,
            group_key=unit.key,
            platform=unit.platform,
            environment=unit.environment,
            target_type=unit.target_type,
            targets=",".join(unit.targets),
            status=AttemptStatus.SENDING,
        )
        for delivery, unit in entries
    )


def attempts_sent(attempts: Sequence[DeliveryAttempt], result: SendResult) -> None:
    DeliveryAttempt.objects.filter(pk__in=[a.pk for a in attempts]).update(
        status=AttemptStatus.SENT,
        message_id=records.xiaomi_id(result.message_id or ""),
        trace_id=records.xiaomi_id(result.trace_id or ""),
        http_status=result.http_status,
        finished_at=timezone.now(),
    )
    for attempt in attempts[:1]:  # one request, counted once
        metrics.request_finished(attempt, 0, events=len(attempts))


def attempts_failed(
    attempts: Sequence[DeliveryAttempt], failure: Failure, *, maybe_delivered: bool
) -> None:
    """Record Xiaomi's refusal of the whole request; ``unknown`` when it may have sent anyway."""
    DeliveryAttempt.objects.filter(pk__in=[a.pk for a in attempts]).update(
        status=AttemptStatus.UNKNOWN if maybe_delivered else AttemptStatus.FAILED,
        error_code=failure.code,
        error_category=failure.category,
        error_reason=text.one_line(failure.reason, 2000),
        trace_id=records.xiaomi_id(failure.trace_id),
        http_status=failure.http_status,
        finished_at=timezone.now(),
    )
    for attempt in attempts[:1]:
        metrics.request_finished(attempt, failure.code or failure.category, events=len(attempts))


def finish_sent(deliveries: Sequence[Delivery], result: SendResult) -> None:
    """End deliveries one request sent in full, in one statement: they share Xiaomi's ids."""
    now = timezone.now()
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=DeliveryStatus.SENT,
        finished_at=now,
        updated_at=now,
        next_attempt_at=None,
        message_id=records.xiaomi_id(result.message_id or ""),
        trace_id=records.xiaomi_id(result.trace_id or ""),
    )
    for delivery in deliveries:
        delivery.status = DeliveryStatus.SENT
        metrics.delivery_finished(delivery, DeliveryStatus.SENT)


def finish_later(deliveries: Sequence[Delivery]) -> None:
    """Move the end of rows held back during planning to now, after the run's sent rows (the
    policy reads what was held since a recipient's last push by these times)."""
    if deliveries:
        now = timezone.now()
        Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
            finished_at=now, updated_at=now
        )
        for delivery in deliveries:
            delivery.finished_at = delivery.updated_at = now
