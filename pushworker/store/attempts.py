"""The one writer of attempt rows: one per event per request, written before the request is made.

A request to Xiaomi carries one event's unit or many (``multi_messages``); each event in it gets
its own attempt row with the targets it was sent to, so the admin shows every event's requests,
and a crash during a request leaves a row still ``sending`` that tells a later run the targets in
it may have been reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from django.utils import timezone

from pushworker.events import text
from pushworker.store.deliveries import Failure, xiaomi_id
from pushworker.store.models import AttemptStatus, Delivery, DeliveryAttempt


class Unit(Protocol):
    """What an attempt row keeps of a send unit (``delivery.routing.SendUnit``)."""

    key: str
    platform: str
    environment: str
    target_type: str
    targets: tuple[str, ...]


def target_key(platform: str, environment: str, target_type: str, target: str) -> str:
    """How a target is known across a delivery's attempts: one host, type and id."""
    return f"{platform}/{environment}/{target_type}:{target}"


@dataclass(frozen=True)
class History:
    """What earlier runs of a delivery did, by target key (:func:`target_key`)."""

    sent: frozenset[str] = frozenset()  # Xiaomi accepted: never request again
    maybe_sent: frozenset[str] = frozenset()  # may have reached Xiaomi: a repeat is flagged
    message_id: str = ""  # of the latest accepted request
    trace_id: str = ""


def histories(deliveries: Iterable[Delivery]) -> dict[int, History]:
    """What earlier runs did, for the deliveries that may have made a request (one query); a
    request a dead run left open becomes ``unknown``."""
    resumed = [
        d.pk for d in deliveries if d.attempts or d.crashes or d.retries or d.redelivered
    ]  # a row that never made a request (the usual case) has no history worth a query
    if not resumed:
        return {}
    rows = list(
        DeliveryAttempt.objects.filter(delivery_id__in=resumed)
        .order_by("pk")
        .values_list(
            "pk",
            "delivery_id",
            "status",
            "platform",
            "environment",
            "target_type",
            "targets",
            "message_id",
            "trace_id",
        )
    )
    left_open = [row[0] for row in rows if row[2] == AttemptStatus.SENDING]
    if left_open:
        DeliveryAttempt.objects.filter(pk__in=left_open).update(
            status=AttemptStatus.UNKNOWN, finished_at=timezone.now()
        )
    sent: dict[int, set[str]] = {}
    maybe: dict[int, set[str]] = {}
    ids: dict[int, tuple[str, str]] = {}
    for _, delivery, status, platform, environment, target_type, targets, msg, trace in rows:
        keys = {target_key(platform, environment, target_type, t) for t in targets.split(",")}
        if status == AttemptStatus.SENT:
            sent.setdefault(delivery, set()).update(keys)
            ids[delivery] = (msg, trace)  # rows come oldest first: the latest wins
        elif status in (AttemptStatus.SENDING, AttemptStatus.UNKNOWN):
            maybe.setdefault(delivery, set()).update(keys)
    return {
        pk: History(
            sent=frozenset(sent.get(pk, ())),
            maybe_sent=frozenset(maybe.get(pk, set()) - sent.get(pk, set())),
            message_id=ids.get(pk, ("", ""))[0],
            trace_id=ids.get(pk, ("", ""))[1],
        )
        for pk in resumed
    }


def start(entries: Sequence[tuple[Delivery, Unit]]) -> list[DeliveryAttempt]:
    """Record one request before it is made: one row per event in it, in one INSERT."""
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


def sent(
    attempts: Sequence[DeliveryAttempt], *, message_id: str, trace_id: str, http_status: int | None
) -> None:
    DeliveryAttempt.objects.filter(pk__in=[a.pk for a in attempts]).update(
        status=AttemptStatus.SENT,
        message_id=xiaomi_id(message_id),
        trace_id=xiaomi_id(trace_id),
        http_status=http_status,
        finished_at=timezone.now(),
    )


def failed(
    attempts: Sequence[DeliveryAttempt], failure: Failure, *, maybe_delivered: bool = False
) -> None:
    """Record Xiaomi's refusal of the request; ``unknown`` when it may have sent anyway."""
    DeliveryAttempt.objects.filter(pk__in=[a.pk for a in attempts]).update(
        status=AttemptStatus.UNKNOWN if maybe_delivered else AttemptStatus.FAILED,
        error_code=failure.code,
        error_category=failure.category,
        error_reason=text.one_line(failure.reason, 2000),
        trace_id=xiaomi_id(failure.trace_id),
        http_status=failure.http_status,
        finished_at=timezone.now(),
    )
