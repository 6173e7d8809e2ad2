"""Writes of delivery records in as few statements as possible (the enqueue path's one insert).

``records.ensure`` keeps the ORM's ``get_or_create`` (a SELECT, a savepoint, an INSERT): clear, but
four round trips and most of ``.delay()``'s cost. :func:`insert_event` is the same row in one
``INSERT ... ON CONFLICT (event_id) DO NOTHING``, which SQLite (3.24+) and PostgreSQL both speak.
Values go through each field's own ``get_db_prep_save``, so a row written here reads back exactly as
one the ORM wrote (UUIDs, JSON, aware datetimes).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.db import connections, router
from django.utils import timezone

from pushworker.events.base import Event
from pushworker.store.models import Delivery, DeliveryStatus

# The columns a new row sets; the nullable ones not listed (claimed_at, finished_at...) stay NULL.
_PER_EVENT = (
    "event_id",
    "kind",
    "app_name",
    "recipient_id",
    "subject_id",
    "payload",
    "published_at",
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
def _statement(alias: str) -> tuple[str, tuple[Any, ...]]:
    """The INSERT for ``alias``'s backend and the prepared values of its constant columns."""
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
    constants = tuple(
        meta.get_field(n).get_db_prep_save(v, connection) for n, v in _CONSTANT.items()
    )
    return sql, constants


def insert_event(event: Event, app_name: str, *, published: bool) -> bool:
    """Keep ``event`` as a ``queued`` row in one statement; True if this call created it.

    An existing row (the same event enqueued twice, or recorded by a worker first) is left as it
    is. ``published`` sets ``published_at`` to now; otherwise it stays NULL for the relay or the
    drain. Inside a transaction the row commits with it; callers wrap it in a savepoint there.
    """
    alias = router.db_for_write(Delivery)
    connection = connections[alias]
    sql, constants = _statement(alias)
    now = timezone.now()
    get = Delivery._meta.get_field
    values = {
        "event_id": event.event_id,
        "kind": event.kind,
        "app_name": app_name,
        "recipient_id": event.recipient_id,
        "subject_id": event.subject_id,
        "payload": event.payload(),
        "published_at": now if published else None,
        "created_at": now,
        "updated_at": now,
    }
    params = [get(n).get_db_prep_save(values[n], connection) for n in _PER_EVENT]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *constants])
        return cursor.rowcount == 1
