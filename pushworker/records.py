"""State transitions of delivery records; each is one small write that is safe under concurrency."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from pushworker.events import GoodsVisit
from pushworker.models import (
    AttemptStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)


@dataclass(frozen=True)
class Failure:
    """What went wrong, as recorded: Xiaomi's code and reason where Xiaomi answered."""

    category: str
    reason: str
    code: int | None = None
    trace_id: str = ""
    http_status: int | None = None


def ensure(
    event: GoodsVisit, app_name: str, *, published: bool = True, create: bool = True
) -> tuple[Delivery | None, bool]:
    """The event's delivery row and whether this call created it (``queued``).

    The enqueuing process writes it (the outbox; ``published=False`` until the broker took the
    event); a worker creates it for a message whose producer did not. ``create=False`` (a retried
    message, whose first run wrote the row) answers ``None`` when the row is gone: the purge
    deleted it after it finished, and creating it again would send the event twice.
    """
    if not create:
        return Delivery.objects.filter(event_id=event.event_id).first(), False
    return Delivery.objects.get_or_create(
        event_id=event.event_id,
        defaults={
            "app_name": app_name,
            "owner_id": event.owner_id,
            "visitor_id": event.visitor_id,
            "visitor_name": event.visitor_name or "",
            "goods_id": event.goods_id,
            "goods_name": event.goods_name,
            "status": DeliveryStatus.QUEUED,
            "published_at": timezone.now() if published else None,
        },
    )


def claim(delivery: Delivery, *, redelivered: bool, lease_seconds: float) -> bool:
    """Take the delivery for this run with one conditional UPDATE; False if it is not ours to take.

    A row in ``sending`` is taken over only when its claim is older than the longest possible run,
    or when the broker says this message was redelivered (its previous holder died): then the
    previous run is counted as a crash.
    """
    now = timezone.now()
    rows = Delivery.objects.filter(pk=delivery.pk)
    taken = rows.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING]).update(
        status=DeliveryStatus.SENDING, claimed_at=now, updated_at=now
    )
    if not taken:
        abandoned = Q(claimed_at__lt=now - timedelta(seconds=lease_seconds))
        if redelivered:
            abandoned |= Q(pk=delivery.pk)
        taken = rows.filter(abandoned, status=DeliveryStatus.SENDING).update(
            claimed_at=now, crashes=F("crashes") + 1, updated_at=now
        )
    if taken and redelivered:
        rows.update(redelivered=True)
    if taken:
        delivery.refresh_from_db()
    return bool(taken)


@dataclass(frozen=True)
class History:
    """What earlier runs of a delivery did, by send unit key."""

    sent: frozenset[str] = frozenset()  # Xiaomi accepted: never request again
    maybe_sent: frozenset[str] = frozenset()  # may have reached Xiaomi: a repeat is flagged


def history(delivery: Delivery) -> History:
    """Read the delivery's attempts once; requests a dead run left open become ``unknown``."""
    rows = list(delivery.attempt_set.values_list("pk", "group_key", "status"))
    left_open = [pk for pk, _, status in rows if status == AttemptStatus.SENDING]
    if left_open:
        DeliveryAttempt.objects.filter(pk__in=left_open).update(
            status=AttemptStatus.UNKNOWN, finished_at=timezone.now()
        )
    maybe = (AttemptStatus.SENDING, AttemptStatus.UNKNOWN)
    return History(
        sent=frozenset(key for _, key, status in rows if status == AttemptStatus.SENT),
        maybe_sent=frozenset(key for _, key, status in rows if status in maybe),
    )


def mark_possible_duplicate(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(possible_duplicate=True)
    delivery.possible_duplicate = True


def start_attempt(
    delivery: Delivery, *, key: str, platform: str, environment: str, target_type: str, targets: str
) -> DeliveryAttempt:
    """Record a request before it is made, so a crash during it leaves a trace."""
    Delivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    return DeliveryAttempt.objects.create(
        delivery=delivery,
        group_key=key,
        platform=platform,
        environment=environment,
        target_type=target_type,
        targets=targets,
        status=AttemptStatus.SENDING,
    )


def attempt_sent(
    attempt: DeliveryAttempt, *, message_id: str, trace_id: str, http_status: int | None
) -> None:
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        status=AttemptStatus.SENT,
        message_id=message_id,
        trace_id=trace_id,
        http_status=http_status,
        finished_at=timezone.now(),
    )


def attempt_failed(
    attempt: DeliveryAttempt, failure: Failure, *, maybe_delivered: bool = False
) -> None:
    """Record Xiaomi's refusal; ``unknown`` instead of ``failed`` when it may have sent anyway."""
    DeliveryAttempt.objects.filter(pk=attempt.pk).update(
        status=AttemptStatus.UNKNOWN if maybe_delivered else AttemptStatus.FAILED,
        error_code=failure.code,
        error_category=failure.category,
        error_reason=failure.reason[:2000],
        trace_id=failure.trace_id,
        http_status=failure.http_status,
        finished_at=timezone.now(),
    )


def finish(
    delivery: Delivery,
    status: str,
    *,
    failure: Failure | None = None,
    message_id: str = "",
    trace_id: str = "",
) -> None:
    """Put the delivery in a terminal state; the fields say who, where and why."""
    now = timezone.now()
    fields = {"status": status, "finished_at": now, "updated_at": now, "next_attempt_at": None}
    if message_id:
        fields |= {"message_id": message_id, "trace_id": trace_id}
    if failure:
        fields |= {
            "error_code": failure.code,
            "error_category": failure.category,
            "error_reason": failure.reason[:2000],
        }
        if not message_id:
            fields["trace_id"] = failure.trace_id
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)


def park_for_retry(delivery: Delivery, failure: Failure, countdown: float) -> None:
    """Release the claim until the next broker retry; the sweeper republishes it if that is lost."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.RETRYING,
        retries=F("retries") + 1,
        next_attempt_at=now + timedelta(seconds=countdown),
        error_code=failure.code,
        error_category=failure.category,
        error_reason=failure.reason[:2000],
        trace_id=failure.trace_id,
        updated_at=now,
    )


def deactivate_devices(device_ids: tuple[int, ...], reason: str) -> int:
    """Stop sending to devices Xiaomi called invalid; the reason stays visible in the admin."""
    return PushDevice.objects.filter(pk__in=device_ids, is_active=True).update(
        is_active=False, deactivated_reason=reason[:255], deactivated_at=timezone.now()
    )


def requeue(deliveries) -> int:
    """Put failed or dead deliveries back to ``queued`` for the relay to publish (admin action)."""
    return deliveries.filter(status__in=[DeliveryStatus.FAILED, DeliveryStatus.DEAD]).update(
        status=DeliveryStatus.QUEUED,
        published_at=None,
        finished_at=None,
        retries=0,
        crashes=0,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )


def reject(raw_event_id: Any, raw: dict[str, Any], reason: str) -> Delivery:
    """Record a message whose arguments are unusable as a failed delivery, keeping what it said."""
    try:
        event_id = uuid.UUID(str(raw_event_id))
    except ValueError:
        event_id = uuid.uuid5(uuid.NAMESPACE_OID, str(raw_event_id))

    def text(value: Any, limit: int) -> str:
        return ("" if value is None else str(value))[:limit]

    now = timezone.now()
    # get_or_create: a malformed copy must not overwrite the record of a well-formed event.
    delivery, _ = Delivery.objects.get_or_create(
        event_id=event_id,
        defaults={
            "app_name": text(raw.get("app_name"), 64),
            "owner_id": text(raw.get("owner_id"), 64),
            "visitor_id": text(raw.get("visitor_id"), 64),
            "goods_id": text(raw.get("goods_id"), 64),
            "goods_name": text(raw.get("goods_name"), 1024),
            "status": DeliveryStatus.FAILED,
            "error_category": "bad_request",
            "error_reason": reason[:2000],
            "finished_at": now,
        },
    )
    return delivery
