"""The one writer of delivery rows in the delivery path: insert, claim, park, end.

Each function is one statement or a few, safe under concurrency; a batch of events costs about as
many statements as one event. The relay's bookkeeping of ``published_at`` lives in
:mod:`pushworker.store.outbox`, the retention's deletes in :mod:`pushworker.store.purge`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from pushworker.events import registry, text
from pushworker.events.base import Event, Priority
from pushworker.store.models import Delivery, DeliveryStatus

WAITING = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)  # the statuses a drain may claim


@dataclass(frozen=True)
class Failure:
    """What went wrong, as recorded: Xiaomi's code and reason where Xiaomi answered."""

    category: str
    reason: str
    code: int | None = None
    trace_id: str = ""
    http_status: int | None = None


@dataclass(frozen=True)
class Parked:
    """A claimed row going back to wait: until ``due``, for ``failure``; ``spent`` counts it as a
    retry (a failure), where a wait for an outage, the rate limit or quiet hours is free."""

    delivery: Delivery
    failure: Failure
    due: datetime
    spent: bool
    attempts: int = 0  # requests made for it in this run


def xiaomi_id(value: str) -> str:
    """A remote answer's id, made to fit its column whatever it is."""
    return text.one_line(value, 64)


# The columns a new row sets; the nullable ones not listed (claimed_at, finished_at...) stay NULL.
_PER_EVENT = (
    "event_id",
    "kind",
    "app_name",
    "recipient_id",
    "subject_id",
    "payload",
    "priority",
    "published_at",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
_CONSTANT = {
    "status": DeliveryStatus.QUEUED,
    "attempts": 0,
    "crashes": 0,
    "retries": 0,
    "claimed_by": "",
    "possible_duplicate": False,
    "redelivered": False,
    "message_id": "",
    "trace_id": "",
    "error_category": "",
    "error_reason": "",
}


@lru_cache(maxsize=8)
def _insert_statement(alias: str, asynchronous: bool = False) -> tuple[str, tuple[Any, ...]]:
    """The INSERT for ``alias``'s backend and the prepared values of its constant columns.

    ``INSERT ... ON CONFLICT (event_id) DO NOTHING``, which SQLite (3.24+) and PostgreSQL both
    speak: one round trip where the ORM's ``get_or_create`` takes four. Values go through each
    field's own ``get_db_prep_save``, so the row reads back exactly as one the ORM wrote.

    ``asynchronous`` (PostgreSQL): the statement also sets ``synchronous_commit`` off for its own
    transaction, the implicit one of an autocommit statement (``set_config(..., true)`` is undone
    at its end), so its commit does not wait for the WAL to reach the disk: still one round trip.
    """
    connection = connections[alias]
    meta = Delivery._meta
    names = (*_PER_EVENT, *_CONSTANT)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(n).column) for n in names)
    marks = ", ".join(["%s"] * len(names))
    conflict = quote(meta.get_field("event_id").column)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({conflict}) DO NOTHING"
    )
    if asynchronous:  # evaluated only for a row inserted: a conflict commits as it would
        sql += " RETURNING set_config('synchronous_commit', 'off', true)"
    constants = tuple(
        meta.get_field(n).get_db_prep_save(v, connection) for n, v in _CONSTANT.items()
    )
    return sql, constants


def insert(event: Event, app_name: str, *, published: bool, durable: bool = True) -> bool:
    """Keep ``event`` as a ``queued`` row in one statement; True if this call created it.

    An existing row (the same event enqueued twice, or recorded by a worker first) is left as it
    is. ``published`` sets ``published_at`` to now: a message carries it, or is on its way (the
    producer clears it again if the publish fails, see :mod:`pushworker.producer.enqueue`);
    otherwise it stays NULL and the row waits for a drain or the relay, due at once. Inside a
    transaction the row commits with it; callers wrap it in a savepoint there.

    ``durable=False`` asks PostgreSQL for an asynchronous commit, outside a transaction only (a
    caller's transaction keeps its own): the row is visible at once and reaches the disk within
    three ``wal_writer_delay`` (or with any later durable commit), unless the server crashes first.
    """
    alias = router.db_for_write(Delivery)
    connection = connections[alias]
    asynchronous = not durable and connection.vendor == "postgresql"
    sql, constants = _insert_statement(alias, asynchronous and not connection.in_atomic_block)
    now = timezone.now()
    get = Delivery._meta.get_field
    values = _row_values(event, app_name, published, now)
    params = [get(n).get_db_prep_save(values[n], connection) for n in _PER_EVENT]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *constants])
        return cursor.rowcount == 1


# Rows per multi-row INSERT: 22 values each stays under SQLite's 32,766 parameters.
INSERT_CHUNK = 500


def insert_many(events: Sequence[Event], app_name: str, *, published: bool) -> int:
    """Keep many events as ``queued`` rows, a few hundred per statement (the daily summaries'
    scheduler makes thousands at once); rows that exist already are left as they are. Answers how
    many this call created."""
    alias = router.db_for_write(Delivery)
    connection = connections[alias]
    sql, constants = _insert_statement(alias)
    head, _, tail = sql.partition(" VALUES ")
    group, _, conflict = tail.partition(") ")
    now = timezone.now()
    get = Delivery._meta.get_field
    created = 0
    for start in range(0, len(events), INSERT_CHUNK):
        chunk = events[start : start + INSERT_CHUNK]
        params: list[Any] = []
        for event in chunk:
            values = _row_values(event, app_name, published, now)
            params += [get(n).get_db_prep_save(values[n], connection) for n in _PER_EVENT]
            params += constants
        statement = f"{head} VALUES {', '.join([group + ')'] * len(chunk))} {conflict}"
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            created += max(cursor.rowcount, 0)
    return created


def _row_values(event: Event, app_name: str, published: bool, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "app_name": app_name,
        "recipient_id": event.recipient_id,
        "subject_id": event.subject_id,
        "payload": event.payload(),
        "priority": int(event.policy.priority),
        "published_at": now if published else None,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def in_transaction() -> bool:
    """Whether :func:`insert` now would join a transaction the caller has open (its row is not
    committed when the call returns)."""
    return connections[router.db_for_write(Delivery)].in_atomic_block


def get(event_id: str) -> Delivery | None:
    return Delivery.objects.filter(event_id=event_id).first()


def ensure(event: Event, app_name: str, *, published: bool = True) -> Delivery:
    """The event's row, written first when there is none (:func:`insert`)."""
    found = get(event.event_id)
    if found is None:
        insert(event, app_name, published=published)
        found = get(event.event_id)
        assert found is not None
    return found


def reject(raw_event_id: Any, raw: dict[str, Any], reason: str, kind: str) -> tuple[Delivery, bool]:
    """Record a message whose arguments are unusable as a failed delivery, keeping what it said;
    a malformed copy never overwrites the record of a well-formed event. Answers the row and
    whether this call created it."""
    try:
        event_id = uuid.UUID(str(raw_event_id))
    except ValueError:
        event_id = uuid.uuid5(uuid.NAMESPACE_OID, text.storable(raw_event_id, 1000))

    def field(value: Any, limit: int) -> str:
        # Cleaned as an accepted event's names are: NUL or a lone surrogate must not lose the row.
        return "" if value is None else text.one_line(value, limit)

    cls, now = registry.get(kind), timezone.now()
    payload = {n: field(raw[n], 1024) for n in cls.arguments if raw.get(n) is not None}
    return Delivery.objects.get_or_create(
        event_id=event_id,
        defaults={
            "kind": kind,
            "app_name": field(raw.get("app_name"), 64),
            "recipient_id": field(raw.get(cls.recipient), 64),
            "subject_id": field(raw.get(cls.subject), 64),
            "payload": payload,
            "priority": int(cls.policy.priority),
            "status": DeliveryStatus.FAILED,
            "error_category": "bad_request",
            "error_reason": text.one_line(reason, 2000),
            "finished_at": now,
        },
    )


def claim(
    delivery: Delivery, *, redelivered: bool, lease_seconds: float, batch_lease: float = 0.0
) -> bool:
    """Take the delivery for this run with one conditional UPDATE; False if it is not ours to take.

    A ``sending`` row is taken over when its claim is older than the longest run (a drain's:
    ``batch_lease``, its time limit), or when its message was redelivered (its holder died)."""
    now, rows = timezone.now(), Delivery.objects.filter(pk=delivery.pk)
    mark = {"claimed_at": now, "updated_at": now, "claimed_by": ""}  # no drain holds it now
    mark |= {"redelivered": True} if redelivered else {}
    taken = rows.filter(status__in=WAITING).update(status=DeliveryStatus.SENDING, **mark)
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


def due() -> Q:
    """Rows waiting for a drain whose time has come (partial index ``delivery_due``)."""
    return Q(status__in=WAITING, published_at__isnull=True, next_attempt_at__lte=timezone.now())


def claim_due(run_id: str, limit: int, *, urgent_share: float = 0.75) -> list[Delivery]:
    """Take up to ``limit`` due rows for the drain ``run_id``: urgent ones first, oldest due first.

    Urgent rows fill at most ``urgent_share`` of the batch while bulk rows wait, so a flood of
    urgent events cannot stop bulk ones; the rest of the room goes to bulk rows. The UPDATE checks
    the rows again, so two drains racing for the same rows never both get one.
    """
    urgent = _claim(run_id, Priority.URGENT, max(1, int(limit * urgent_share)))
    bulk = _claim(run_id, Priority.BULK, limit - urgent)
    if urgent + bulk < limit:
        _claim(run_id, Priority.URGENT, limit - urgent - bulk)  # the room bulk rows left
    return held_by(run_id)


def _claim(run_id: str, priority: Priority, limit: int) -> int:
    if limit <= 0:
        return 0
    wanted = due() & Q(priority=priority)
    oldest = (
        Delivery.objects.filter(wanted).order_by("next_attempt_at").values_list("pk", flat=True)
    )
    alias = router.db_for_write(Delivery)
    now = timezone.now()
    changes = {"status": DeliveryStatus.SENDING, "claimed_at": now, "claimed_by": run_id}
    if not connections[alias].features.has_select_for_update_skip_locked:
        # SQLite runs writes one at a time: one statement is the whole claim.
        return Delivery.objects.filter(wanted, pk__in=oldest[:limit]).update(
            **changes, updated_at=now
        )
    # PostgreSQL: the ids first, locked, passing over rows another drain is claiming (so parallel
    # drains each get a full batch), then the UPDATE by id. Not one UPDATE ... WHERE id IN
    # (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED): a nested-loop plan runs that subquery once per
    # row and claims far more than n rows (seen with EXPLAIN ANALYZE: 2,000 rows for LIMIT 100).
    with transaction.atomic(using=alias):
        ids = list(oldest.select_for_update(skip_locked=True)[:limit])
        return Delivery.objects.filter(wanted, pk__any=ids).update(**changes, updated_at=now)


def held_by(run_id: str) -> list[Delivery]:
    return list(
        Delivery.objects.filter(claimed_by=run_id, status=DeliveryStatus.SENDING).order_by(
            "-priority", "next_attempt_at", "pk"
        )
    )


def take_over(run_id: str) -> list[Delivery]:
    """The rows a dead copy of drain ``run_id`` left in ``sending``: each counts a crash."""
    now = timezone.now()
    taken = Delivery.objects.filter(claimed_by=run_id, status=DeliveryStatus.SENDING).update(
        crashes=F("crashes") + 1, redelivered=True, claimed_at=now, updated_at=now
    )
    return held_by(run_id) if taken else []  # every drain asks: the usual answer is one UPDATE


def release(deliveries: Sequence[Delivery]) -> None:
    """Hand claimed rows back as ``queued`` with a message each (they run alone).

    Marked ``redelivered``, as after a crash: the run that held them may have had requests
    accepted before it failed, and recorded them only on attempt rows (a row's counters are
    written with its end), so the next run must read its attempts before it sends anything."""
    now = timezone.now()
    Delivery.objects.filter(pk__any=[d.pk for d in deliveries]).update(
        status=DeliveryStatus.QUEUED,
        claimed_by="",
        published_at=now,
        redelivered=True,
        updated_at=now,
    )


def give_back(held: str | Sequence[Delivery]) -> int:
    """Hand claimed rows back due at once, as rows no message carries (a drain claims them); how
    many. ``held``: a drain's run id (every row it holds, in one statement), or the rows.

    The run failed for the database's sake, not an event's, so no crash is counted.
    ``redelivered`` makes the next run read their attempts: a request the failed run left open is
    repeated flagged."""
    now = timezone.now()
    rows = Delivery.objects.filter(status=DeliveryStatus.SENDING)
    if isinstance(held, str):
        rows = rows.filter(claimed_by=held)
    else:
        rows = rows.filter(pk__any=[d.pk for d in held])
    return rows.update(
        status=DeliveryStatus.QUEUED,
        claimed_by="",
        published_at=None,
        next_attempt_at=now,
        redelivered=True,
        updated_at=now,
    )


def _ended_fields(status: str, failure: Failure | None, message_id: str, trace_id: str) -> dict:
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": status,
        "finished_at": now,
        "updated_at": now,
        "next_attempt_at": None,
    }
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
    return fields


def finish(
    delivery: Delivery,
    status: str,
    *,
    failure: Failure | None = None,
    message_id: str = "",
    trace_id: str = "",
    attempts: int = 0,
) -> None:
    """Put the delivery in a terminal state; the fields say who, where and why.

    ``attempts``: the requests this run made for it (counted here, with the end, not one
    statement per request: the attempt rows are the trace a crash leaves)."""
    fields = _ended_fields(status, failure, message_id, trace_id)
    Delivery.objects.filter(pk=delivery.pk).update(**fields, attempts=F("attempts") + attempts)
    for name, value in fields.items():
        setattr(delivery, name, value)
    delivery.attempts += attempts


def finish_sent(deliveries: Sequence[Delivery], message_id: str, trace_id: str, attempts: int):
    """End deliveries one request sent in full, in one statement: they share Xiaomi's ids and the
    number of requests it took."""
    fields = _ended_fields(DeliveryStatus.SENT, None, message_id, trace_id)
    Delivery.objects.filter(pk__any=[d.pk for d in deliveries]).update(
        **fields, attempts=F("attempts") + attempts
    )
    for delivery in deliveries:
        for name, value in fields.items():
            setattr(delivery, name, value)
        delivery.attempts += attempts


def park(parked: Sequence[Parked]) -> None:
    """Release claims until each row's due time: a drain claims it then (the row is the retry,
    not a broker message, so any number wait at no cost to the workers)."""
    if not parked:
        return
    now = timezone.now()
    rows = []
    for item in parked:
        row, failure = item.delivery, item.failure
        row.status = DeliveryStatus.RETRYING
        row.retries += 1 if item.spent else 0
        row.attempts += item.attempts
        row.next_attempt_at = item.due
        row.published_at = None  # no message carries it: a drain claims it when due
        row.claimed_by = ""
        row.error_code = failure.code
        row.error_category = failure.category
        row.error_reason = text.one_line(failure.reason, 2000)
        row.trace_id = xiaomi_id(failure.trace_id)
        row.updated_at = now
        rows.append(row)
    Delivery.objects.bulk_update(rows, _PARKED_FIELDS, batch_size=500)


_PARKED_FIELDS = [
    "status",
    "retries",
    "attempts",
    "next_attempt_at",
    "published_at",
    "claimed_by",
    "error_code",
    "error_category",
    "error_reason",
    "trace_id",
    "updated_at",
]


def wake(category: str) -> int:
    """Make every row waiting for ``category`` (an outage that just ended) due now."""
    return Delivery.objects.filter(
        status=DeliveryStatus.RETRYING, published_at__isnull=True, error_category=category
    ).update(next_attempt_at=timezone.now())


def mark_possible_duplicates(deliveries: Iterable[Delivery]) -> None:
    """Flag rows a request may send twice (an earlier request may have reached Xiaomi)."""
    rows = [d for d in deliveries if not d.possible_duplicate]
    if rows:
        Delivery.objects.filter(pk__any=[d.pk for d in rows]).update(possible_duplicate=True)
        for delivery in rows:
            delivery.possible_duplicate = True


def finish_later(deliveries: Sequence[Delivery]) -> None:
    """Move the end of rows held back during planning to now, after the run's sent rows (the
    policy reads what was held since a recipient's last push by these times)."""
    if deliveries:
        now = timezone.now()
        Delivery.objects.filter(pk__any=[d.pk for d in deliveries]).update(
            finished_at=now, updated_at=now
        )
        for delivery in deliveries:
            delivery.finished_at = delivery.updated_at = now
