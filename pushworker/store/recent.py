"""The delivery policy's reads of recent rows, set-wise: one query per question for a whole run.

Each function answers for every recipient or subject of a run at once, leaving out the run's own
rows (``exclude``: the run knows them better, as it changes them). ``delivery.recent`` combines
these answers with the run's rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import RowNumber

from pushworker.store.models import Delivery, DeliveryStatus

SENT = (DeliveryStatus.SENT, DeliveryStatus.PARTIAL)
PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)
HELD = ("duplicate", "daily_cap")  # reasons of the suppressed rows a digest reports
# The rows the daily cap counts: sent, or being sent (a request was made).
COUNTED = Q(status__in=SENT) | Q(
    status__in=(DeliveryStatus.SENDING, DeliveryStatus.RETRYING), attempts__gt=0
)
HELD_LIMIT = 1000  # held rows a digest counts, per recipient and kind
SUBJECT_LIMIT = 100  # sent rows read per subject for a dedup confirmation: the newest
STATES_LIMIT = 5000  # window holders' states read ahead; past it, a holder is looked up alone

Key = tuple[str, str, str]  # (kind, recipient, subject)


def held_since_last_push(
    app: str, recipients: Collection[str], exclude: Collection[int]
) -> dict[tuple[str, str], list[tuple[str, Any]]]:
    """Per (kind, recipient): the (event id, payload) of rows held back (by dedup or the cap)
    since the recipient's last push of that kind, oldest first. A sent row without an end time
    (never written so) counts as the latest push."""
    rows = Delivery.objects.filter(app_name=app, recipient_id__any=list(set(recipients))).exclude(
        pk__any=list(exclude)
    )
    held = rows.filter(status=DeliveryStatus.SUPPRESSED, error_category__in=HELD)
    pairs = set(held.order_by().values_list("kind", "recipient_id").distinct())
    if not pairs:
        return {}
    last = {
        (kind, recipient): (end, unended)
        for kind, recipient, end, unended in rows.filter(
            status__in=SENT, recipient_id__any=list({r for _, r in pairs})
        )
        .order_by()
        .values_list("kind", "recipient_id")
        .annotate(end=Max("finished_at"), unended=Count("pk", filter=Q(finished_at__isnull=True)))
    }
    since = []
    for pair in pairs:
        end, unended = last.get(pair, (None, 0))
        if unended:
            continue  # its latest push has no time: nothing can be said to come after it
        where = Q(kind=pair[0], recipient_id=pair[1])
        since.append(where & Q(finished_at__gt=end) if end is not None else where)
    if not since:
        return {}
    found: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for kind, recipient, event_id, payload in (
        held.filter(reduce(or_, since))
        .order_by("finished_at", "pk")
        .values_list("kind", "recipient_id", "event_id", "payload")
    ):
        rows_of = found.setdefault((kind, recipient), [])
        if len(rows_of) < HELD_LIMIT:
            rows_of.append((str(event_id), payload))
    return found


def _about(app: str, keys: Iterable[Key], since: datetime, exclude: Collection[int]) -> Any:
    """Rows of ``app`` created since ``since`` about the subjects of ``keys`` (a superset: other
    combinations of those kinds, recipients and subjects too, left out by the callers)."""
    keys = list(keys)
    return Delivery.objects.filter(
        app_name=app,
        kind__in={k for k, _, _ in keys},
        recipient_id__any=list({r for _, r, _ in keys}),
        subject_id__any=list({s for _, _, s in keys}),
        created_at__gte=since,
    ).exclude(pk__any=list(exclude))


def sent_about(
    app: str, keys: Collection[Key], since: datetime, exclude: Collection[int]
) -> dict[Key, list[tuple[str, Any, datetime]]]:
    """Per subject: the (event id, payload, created) of the newest rows sent about it since
    ``since``, at most :data:`SUBJECT_LIMIT` of them."""
    newest = Window(
        RowNumber(),
        partition_by=[F("kind"), F("recipient_id"), F("subject_id")],
        order_by=F("created_at").desc(),
    )
    rows = (
        _about(app, keys, since, exclude)
        .filter(status__in=SENT)
        .annotate(newest=newest)
        .filter(newest__lte=SUBJECT_LIMIT)
        .values_list("kind", "recipient_id", "subject_id", "event_id", "payload", "created_at")
    )
    wanted = set(keys)
    found: dict[Key, list[tuple[str, Any, datetime]]] = {}
    for kind, recipient, subject, event_id, payload, created in rows:
        if (kind, recipient, subject) in wanted:
            found.setdefault((kind, recipient, subject), []).append(
                (str(event_id), payload, created)
            )
    return found


def states_about(
    app: str, keys: Collection[Key], since: datetime, exclude: Collection[int]
) -> dict[str, str] | None:
    """Event id -> status of the rows about the subjects since ``since`` (the events that may hold
    a dedup window); None when there are more than :data:`STATES_LIMIT` (look holders up alone)."""
    found = list(
        _about(app, keys, since, exclude).values_list("event_id", "status")[: STATES_LIMIT + 1]
    )
    if len(found) > STATES_LIMIT:
        return None
    return {str(event_id): status for event_id, status in found}


def state_of(event_id: str) -> str | None:
    """The status of the event ``event_id``, or None (no such row, or not an event id)."""
    try:
        return Delivery.objects.filter(event_id=event_id).values_list("status", flat=True).first()
    except (ValueError, ValidationError):  # a window held under something not an event id
        return None


def counted_since(
    app: str, kind: str, recipients: Collection[str], since: datetime, exclude: Collection[int]
) -> dict[str, dict[int, str]]:
    """Per recipient: the rows of ``kind`` the daily cap counts since ``since`` (pk -> event id)."""
    rows = (
        Delivery.objects.filter(
            COUNTED,
            app_name=app,
            kind=kind,
            recipient_id__any=list(set(recipients)),
            created_at__gte=since,
        )
        .exclude(pk__any=list(exclude))
        .values_list("pk", "recipient_id", "event_id")
    )
    found: dict[str, dict[int, str]] = {}
    for pk, recipient, event_id in rows:
        found.setdefault(recipient, {})[pk] = str(event_id)
    return found
