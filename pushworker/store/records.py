"""The one writer of pushworker's state: deliveries, attempts, device state and dead letters.

Each function is one small read or write, safe under concurrency (tests/unit/test_structure.py
names the few other modules that use the managers)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from pushworker.delivery import routing
from pushworker.events import registry, text
from pushworker.events.base import Event
from pushworker.ops import metrics
from pushworker.store.models import (
    AttemptStatus,
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)

log = logging.getLogger("pushworker.deadletter")
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Failure:
    """What went wrong, as recorded: Xiaomi's code and reason where Xiaomi answered."""

    category: str
    reason: str
    code: int | None = None
    trace_id: str = ""
    http_status: int | None = None


def xiaomi_id(value: str) -> str:  # a remote answer's id, made to fit its column whatever it is
    return text.one_line(value, 64)


def ensure(
    event: Event, app_name: str, *, published: bool = True, create: bool = True
) -> tuple[Delivery | None, bool]:
    """The event's delivery row and whether this call created it (``queued``, by the outbox or a
    worker). ``create=False`` (a retried message, whose first run wrote the row) answers ``None``
    when the row is gone: the purge deleted it, and creating it again would send twice."""
    if not create:
        return Delivery.objects.filter(event_id=event.event_id).first(), False
    return Delivery.objects.get_or_create(
        event_id=event.event_id,
        defaults={
            "kind": event.kind,
            "app_name": app_name,
            "recipient_id": event.recipient_id,
            "subject_id": event.subject_id,
            "payload": event.payload(),
            "status": DeliveryStatus.QUEUED,
            "published_at": timezone.now() if published else None,
        },
    )


def claim(delivery: Delivery, *, redelivered: bool, lease_seconds: float, batch_lease=0.0) -> bool:
    """Take the delivery for this run with one conditional UPDATE; False if it is not ours to take.

    A ``sending`` row is taken over when its claim is older than the longest run (a batch run's:
    ``batch_lease``, its time limit), or when its message was redelivered (its holder died)."""
    now, rows = timezone.now(), Delivery.objects.filter(pk=delivery.pk)
    mark = {"claimed_at": now, "updated_at": now, "claimed_by": ""}  # no batch run holds it now
    mark |= {"redelivered": True} if redelivered else {}
    taken = rows.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING]).update(
        status=DeliveryStatus.SENDING, **mark
    )
    if not taken:
        lease, batch = (timedelta(seconds=max(lease_seconds, s)) for s in (0, batch_lease))
        abandoned = Q(claimed_at__lt=now - lease, claimed_by="") | Q(claimed_at__lt=now - batch)
        if redelivered:
            abandoned |= Q(pk=delivery.pk)
        taken = rows.filter(abandoned, status=DeliveryStatus.SENDING).update(
            crashes=F("crashes") + 1, **mark
        )
    if taken:
        delivery.refresh_from_db()
    return bool(taken)


@dataclass(frozen=True)
class History:
    """What earlier runs of a delivery did, by target key (``routing.target_key``)."""

    sent: frozenset[str] = frozenset()  # Xiaomi accepted: never request again
    maybe_sent: frozenset[str] = frozenset()  # may have reached Xiaomi: a repeat is flagged


def history(delivery: Delivery) -> History:
    """Read the delivery's attempts once; requests a dead run left open become ``unknown``."""
    rows = list(
        delivery.attempt_set.values_list(
            "pk", "status", "platform", "environment", "target_type", "targets"
        )
    )
    left_open = [row[0] for row in rows if row[1] == AttemptStatus.SENDING]
    if left_open:
        DeliveryAttempt.objects.filter(pk__in=left_open).update(
            status=AttemptStatus.UNKNOWN, finished_at=timezone.now()
        )
    sent: set[str] = set()
    maybe: set[str] = set()
    for _, status, platform, environment, target_type, targets in rows:
        keys = {
            routing.target_key(platform, environment, target_type, t) for t in targets.split(",")
        }
        if status == AttemptStatus.SENT:
            sent |= keys
        elif status in (AttemptStatus.SENDING, AttemptStatus.UNKNOWN):
            maybe |= keys
    return History(sent=frozenset(sent), maybe_sent=frozenset(maybe - sent))


def active_devices(recipient_id: str, app_name: str) -> list[PushDevice]:
    """The recipient's devices that may be sent to, the most recently changed first."""
    return list(
        PushDevice.objects.filter(user_id=recipient_id, app_name=app_name, is_active=True).order_by(
            "-modify_time"
        )
    )


def last_sent_ids(delivery: Delivery) -> tuple[str, str]:
    """Xiaomi's message and trace id of the delivery's latest accepted request, or blanks."""
    found = (
        delivery.attempt_set.filter(status=AttemptStatus.SENT)
        .order_by("-pk")
        .values_list("message_id", "trace_id")
        .first()
    )
    return found or ("", "")


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
        message_id=xiaomi_id(message_id),
        trace_id=xiaomi_id(trace_id),
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
        error_reason=text.one_line(failure.reason, 2000),
        trace_id=xiaomi_id(failure.trace_id),
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
        fields |= {"message_id": xiaomi_id(message_id), "trace_id": xiaomi_id(trace_id)}
    if failure:
        fields |= {
            "error_code": failure.code,
            "error_category": failure.category,
            "error_reason": text.one_line(failure.reason, 2000),
        }
        if not message_id:
            fields["trace_id"] = xiaomi_id(failure.trace_id)
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    metrics.delivery_finished(delivery, status, failure.category if failure else "")


def park_for_retry(delivery: Delivery, failure: Failure, countdown: float, *, spend=True) -> None:
    """Release the claim until the next broker retry; the sweeper republishes it if that is lost.

    ``spend=False``: a wait that is no failure (the shared rate limit) keeps the retry budget."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.RETRYING,
        retries=F("retries") + (1 if spend else 0),
        next_attempt_at=now + timedelta(seconds=countdown),
        error_code=failure.code,
        error_category=failure.category,
        error_reason=text.one_line(failure.reason, 2000),
        trace_id=xiaomi_id(failure.trace_id),
        updated_at=now,
    )
    metrics.retry_scheduled(delivery, spend)


def deactivate_devices(device_ids: tuple[int, ...], reason: str, regids: Any = None) -> int:
    """Stop sending to devices Xiaomi called invalid (given ``regids``: those of them with one)."""
    wanted = Q() if regids is None else Q(registration_id__in=list(regids))
    return PushDevice.objects.filter(wanted, pk__in=device_ids, is_active=True).update(
        is_active=False,
        deactivated_reason=text.one_line(reason, 255),
        deactivated_at=timezone.now(),
    )


def reject(raw_event_id: Any, raw: dict[str, Any], reason: str, kind="goods_visit") -> Delivery:
    """Record a message whose arguments are unusable as a failed delivery, keeping what it said."""
    try:
        event_id = uuid.UUID(str(raw_event_id))
    except ValueError:
        event_id = uuid.uuid5(uuid.NAMESPACE_OID, text.storable(raw_event_id, 1000))

    def field(value: Any, limit: int) -> str:
        # Cleaned as an accepted event's names are: NUL or a lone surrogate must not lose the row.
        return "" if value is None else text.one_line(value, limit)

    cls, now = registry.get(kind), timezone.now()
    payload = {n: field(raw[n], 1024) for n in cls.arguments if raw.get(n) is not None}
    # get_or_create: a malformed copy must not overwrite the record of a well-formed event.
    delivery, created = Delivery.objects.get_or_create(
        event_id=event_id,
        defaults={
            "kind": kind,
            "app_name": field(raw.get("app_name"), 64),
            "recipient_id": field(raw.get(cls.recipient), 64),
            "subject_id": field(raw.get(cls.subject), 64),
            "payload": payload,
            "status": DeliveryStatus.FAILED,
            "error_category": "bad_request",
            "error_reason": text.one_line(reason, 2000),
            "finished_at": now,
        },
    )
    metrics.rejected(delivery, created)
    return delivery


def dead_letter(reason: str, message: object, body: object = None) -> None:
    """Keep what arrived; a failure to store is logged, never allowed to stop the consumer.

    Body and headers are kept as evidence (escaped, cut at 64 KiB); reason, task name and id are
    cleaned to one line, so a forged newline cannot fake a log line either."""
    headers = getattr(message, "headers", None) or {}
    headers = headers if isinstance(headers, dict) else {"raw": headers}
    task_name, reason = text.one_line(headers.get("task", ""), 255), text.one_line(reason, 255)
    try:
        DeadLetter.objects.create(
            reason=reason,
            task_name=task_name,
            task_id=text.one_line(headers.get("id", ""), 255),
            headers=text.storable(headers, MAX_BODY),
            body=text.storable(getattr(message, "body", "") if body is None else body, MAX_BODY),
        )
    except Exception:  # noqa: BLE001 - the consumer must keep consuming
        log.exception("could not store a dead letter", extra={"reason": reason})
    else:
        log.error("dead-lettered a message", extra={"reason": reason, "task": task_name})
