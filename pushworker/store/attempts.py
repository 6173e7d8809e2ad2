"""The one writer of attempt rows: one per event per request, written before the request is made.

A request to Xiaomi carries one event's unit or many (``multi_messages``); each event in it gets
its own attempt row with the targets it was sent to, so the admin shows every event's requests,
and a crash during a request leaves a row still ``sending`` that tells a later run the targets in
it may have been reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from django.db import connections, router
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
        DeliveryAttempt.objects.filter(delivery_id__any=resumed)
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
        DeliveryAttempt.objects.filter(pk__any=left_open).update(
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


@dataclass(frozen=True)
class Request:
    """One request on record: the deliveries it carries, when it started, where it went."""

    delivery_ids: tuple[int, ...]
    app_name: str
    platform: str
    environment: str
    started_at: datetime


_COLUMNS = (
    "delivery_id",
    "group_key",
    "platform",
    "environment",
    "target_type",
    "targets",
    "status",
    "message_id",
    "trace_id",
    "error_category",
    "error_reason",
    "started_at",
)


@lru_cache(maxsize=8)
def _insert_sql(alias: str, rows: int) -> str:
    quote = connections[alias].ops.quote_name
    meta = DeliveryAttempt._meta
    columns = ", ".join(quote(meta.get_field(n).column) for n in _COLUMNS)
    values = ", ".join(["(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"] * rows)
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values}"


@lru_cache(maxsize=8)
def _copy_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = DeliveryAttempt._meta
    columns = ", ".join(quote(meta.get_field(n).column) for n in _COLUMNS)
    return f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"


def start(entries: Sequence[tuple[Delivery, Unit]]) -> Request:
    """Record one request before it is made: one row per event in it, in one INSERT.

    A run holds its rows' claims and ends each request's attempts before it makes the next, so
    a delivery has at most one attempt ``sending`` at a time: :func:`sent` and :func:`failed`
    find them by delivery, and the INSERT needs no ids back.
    """
    alias = router.db_for_write(DeliveryAttempt)
    connection = connections[alias]
    now = timezone.now()
    at = DeliveryAttempt._meta.get_field("started_at").get_db_prep_save(now, connection)
    params: list[Any] = []
    for delivery, unit in entries:
        params += [
            delivery.pk,
            unit.key,
            unit.platform,
            unit.environment,
            unit.target_type,
            ",".join(unit.targets),
            AttemptStatus.SENDING,
            "",
            "",
            "",
            "",
            at,
        ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: no statement to parse or plan per request, whatever its size.
            width = len(_COLUMNS)
            with cursor.cursor.copy(_copy_sql(alias)) as copy:
                for n in range(0, len(params), width):
                    copy.write_row(params[n : n + width])
        else:
            cursor.execute(_insert_sql(alias, len(entries)), params)
    first, unit = entries[0]
    return Request(
        tuple(d.pk for d, _ in entries), first.app_name, unit.platform, unit.environment, now
    )


def _open(request: Request) -> Any:
    return DeliveryAttempt.objects.filter(
        delivery_id__any=request.delivery_ids, status=AttemptStatus.SENDING
    )


def sent(request: Request, *, message_id: str, trace_id: str, http_status: int | None) -> None:
    _open(request).update(
        status=AttemptStatus.SENT,
        message_id=xiaomi_id(message_id),
        trace_id=xiaomi_id(trace_id),
        http_status=http_status,
        finished_at=timezone.now(),
    )


def failed(request: Request, failure: Failure, *, maybe_delivered: bool = False) -> None:
    """Record Xiaomi's refusal of the request; ``unknown`` when it may have sent anyway."""
    _open(request).update(
        status=AttemptStatus.UNKNOWN if maybe_delivered else AttemptStatus.FAILED,
        error_code=failure.code,
        error_category=failure.category,
        error_reason=text.one_line(failure.reason, 2000),
        trace_id=xiaomi_id(failure.trace_id),
        http_status=failure.http_status,
        finished_at=timezone.now(),
    )
