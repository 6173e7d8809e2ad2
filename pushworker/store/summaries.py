"""The daily summaries' rows: whose summary is due, what their day held back, and the summaries.

One call of :func:`make_due` handles a chunk of due recipients in one transaction: it counts the
rows each recipient's preferences held back for the summary (``suppressed``, reason
``summary_pending``) since their last summary, inserts one ``daily_summary`` delivery per
recipient with something to say (a backlog row: drains send them in ``multi_messages`` groups)
and moves each recipient on to their next summary. A chunk is all or nothing, and a summary's
event id is fixed by its recipient and local date, so a scheduler that runs twice at once or dies
half-way still makes one summary per recipient and day. Counting reads a handful of statements
per chunk, whatever its size: recipients whose last summary was cut at the same moment (those
handled together the day before) share one aggregate query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import CharField, Count, Q, When
from django.db.models.expressions import Case
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from pushworker import conf
from pushworker.events import daily_summary, registry
from pushworker.store import deliveries, preferences
from pushworker.store.models import Delivery, DeliveryStatus, Recipient

PENDING = "summary_pending"  # the reason of the rows a daily summary reports
WINDOW = timedelta(days=1)  # a first summary counts the day before it
# A summary counts the rows held (ended) until a few seconds before it is made: a row ended just
# then may not be committed yet, and belongs to the next summary's window instead of neither's.
SETTLE = timedelta(seconds=5)


@dataclass
class Made:
    """What one chunk did: recipients moved on, and the summaries created among them."""

    recipients: int = 0
    created: int = 0


def _person() -> Any:
    """Who an event came from, per kind (``nickname_of``'s user argument in the payload); an
    event naming nobody, or an anonymous visitor, counts as its own person."""
    own = Cast("event_id", CharField())
    cases = []
    for name, kind in registry.kinds().items():
        if kind.nickname_of:
            user = f"payload__{kind.nickname_of[0]}"
            # JSON null (an anonymous visitor) reads as the text "null" on SQLite: ask for it.
            nobody = Q(**{user: None}) | Q(**{f"{user}__isnull": True})
            cases += [When(Q(kind=name) & nobody, then=own), When(kind=name, then=KT(user))]
    return Case(*cases, default=own, output_field=CharField()) if cases else own


def held_counts(
    app_name: str, since: datetime, until: datetime, user_ids: Sequence[str]
) -> dict[str, daily_summary.Counts]:
    """Per recipient and kind: the rows held for the summary (ended in [since, until)), the
    distinct subjects they were about and the distinct people they came from."""
    rows = (
        Delivery.objects.filter(
            app_name=app_name,
            recipient_id__any=list(user_ids),
            status=DeliveryStatus.SUPPRESSED,
            error_category=PENDING,
            finished_at__gte=since,
            finished_at__lt=until,
        )
        .values_list("recipient_id", "kind")
        .annotate(
            events=Count("pk"),
            subjects=Count("subject_id", distinct=True),
            people=Count(_person(), distinct=True),
        )
        .order_by()
    )
    found: dict[str, daily_summary.Counts] = {}
    for user_id, kind, events, subjects, people in rows:
        found.setdefault(user_id, {})[kind] = {
            "events": events,
            "subjects": subjects,
            "people": people,
        }
    return found


def make_due(settings: conf.Settings, now: datetime, limit: int) -> Made:
    """Summaries of up to ``limit`` recipients due by ``now``, oldest due first; see the module."""
    made = Made()
    with transaction.atomic():
        # PostgreSQL: a scheduler running beside this one passes over these rows. SQLite: the
        # transaction takes the write lock as it begins (the settings' IMMEDIATE mode), so a
        # second scheduler waits, then finds these recipients moved on.
        due = list(
            Recipient.objects.select_for_update(skip_locked=True)
            .filter(summary_due_at__lte=now)
            .order_by("summary_due_at")[:limit]
        )
        if not due:
            return made
        by_app: dict[str, list[Recipient]] = {}
        for row in due:
            by_app.setdefault(row.app_name, []).append(row)
        for app_name, rows in by_app.items():
            _make(settings, app_name, rows, now, made)
        Recipient.objects.bulk_update(
            due, ["summary_day", "summary_due_at", "summarized_until"], batch_size=500
        )
    return made


def _make(
    settings: conf.Settings, app_name: str, rows: list[Recipient], now: datetime, made: Made
) -> None:
    made.recipients += len(rows)
    app = settings.apps.get(app_name)
    if app is None:  # an app no longer configured: nobody to summarize for
        for row in rows:
            row.summary_day = row.summary_due_at = None
        return
    choices = preferences.of_recipients(app_name, [r.user_id for r in rows])
    cut = now - SETTLE
    windows: dict[datetime, list[str]] = {}
    for row in rows:
        windows.setdefault(row.summarized_until or cut - WINDOW, []).append(row.user_id)
    counts: dict[str, daily_summary.Counts] = {}
    for since, user_ids in windows.items():
        counts |= held_counts(app_name, since, cut, user_ids)
    events = [
        daily_summary.DailySummary(
            event_id=daily_summary.event_id_of(app_name, row.user_id, row.summary_day),
            user_id=row.user_id,
            day=row.summary_day.isoformat(),
            counts=counts[row.user_id],
            app_name=app_name,
        )
        for row in rows
        if row.user_id in counts and row.summary_day is not None
    ]
    made.created += deliveries.insert_many(events, app_name, published=False)
    for row in rows:
        chosen = choices.get(row.user_id, preferences.NONE)
        row.summarized_until = cut
        if not chosen.summarizes:  # no kind summarized any more (an app setting changed)
            row.summary_day = row.summary_due_at = None
            continue
        row.summary_day, row.summary_due_at = preferences.next_summary(
            chosen, app, row.user_id, now, settings.summary_slot, after=row.summary_day
        )


def summaries_of(app_name: str, user_id: str, limit: int = 10) -> list[Delivery]:
    """A recipient's latest summaries, newest first (the admin's recipient page)."""
    return list(
        Delivery.objects.filter(
            kind=daily_summary.DailySummary.kind, app_name=app_name, recipient_id=user_id
        ).order_by("-created_at")[:limit]
    )
