"""The delivery policy's database reads for a whole batch run: a few queries, not a few per event.

A batch run (:mod:`pushworker.batch`) plans its events one after another in claim order, and
:mod:`pushworker.policy` decides each as it would alone. What the policy would read for each event
is read here once per batch and app, at its first need, and each answer is what that event's own
query would have said: the rows read, less the event's own row, with this batch's rows as this run
has changed them since (the ``Delivery`` instances ``records.finish`` updates: a repeat held back
three events earlier is known to the fourth). An answer that could be incomplete is ``None``, and
the policy asks the database as before.

Rows other workers change meanwhile are seen as of the read, one batch's planning earlier than a
query per event would see them. Between workers Redis decides (dedup windows, cap sets); these
reads are its confirmation after a loss, the digest's rows and a window holder's state, where the
same race exists with a query per event, only narrower.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from pushworker import policy
from pushworker.events.base import Event
from pushworker.models import Delivery, DeliveryStatus
from pushworker.policy_conf import Policy

# A dedup read of more rows (a flood about a few subjects) is dropped: each event asks alone.
READ_LIMIT = 5000
# The query per event reads at most this many sent rows of one subject, any of them: with as many
# in a read the answers could differ, so the event asks alone.
SUBJECT_LIMIT = 100

Row = tuple[int, str, str, str, str, Any, datetime]  # pk, event id, kind, recipient, subject, ...


def counted(delivery: Delivery) -> bool:
    """Whether the daily cap counts a row: :data:`policy.COUNTED`, of a row in memory."""
    in_flight = (DeliveryStatus.SENDING, DeliveryStatus.RETRYING)
    return delivery.status in policy.SENT or (
        delivery.status in in_flight and delivery.attempts > 0
    )


def held(delivery: Delivery) -> bool:
    """Whether a row was held back by dedup or the cap (what a digest reports)."""
    return delivery.status == DeliveryStatus.SUPPRESSED and delivery.error_category in policy.HELD


class Prefetch:
    """One batch run's reads for the policy, over the claimed rows it is built from.

    ``deliveries`` must be the instances the run plans with: their changes during the run are
    part of the answers.
    """

    def __init__(self, deliveries: Sequence[Delivery]) -> None:
        self._mine = {d.pk: d for d in deliveries}
        self._by_event = {str(d.event_id): d for d in deliveries}
        self._by_recipient: dict[tuple[str, str, str], list[Delivery]] = {}
        for d in deliveries:
            self._by_recipient.setdefault((d.app_name, d.kind, d.recipient_id), []).append(d)
        self._held: dict[str, set[tuple[str, str]]] = {}
        self._recent: dict[str, datetime | None] = {}  # when each app's read starts; None: too big
        self._subjects: dict[str, dict[tuple[str, str, str], list[Row]]] = {}
        self._states: dict[str, dict[str, str]] = {}  # event id -> status, of the rows read
        self._counted: dict[tuple[str, str, datetime], dict[str, dict[int, str]]] = {}

    def _of_app(self, app_name: str) -> list[Delivery]:
        return [d for d in self._mine.values() if d.app_name == app_name]

    def _others(self, delivery: Delivery, kind: str, recipient: str) -> Iterable[Delivery]:
        """This batch's other rows of the same app, kind and recipient."""
        found = self._by_recipient.get((delivery.app_name, kind, recipient), ())
        return (d for d in found if d.pk != delivery.pk)

    def may_have_held(self, event: Event, delivery: Delivery) -> bool:
        """False when the recipient has no row of the kind held back at all, so no digest."""
        app = delivery.app_name
        if app not in self._held:
            recipients = {d.recipient_id for d in self._of_app(app)}
            rows = Delivery.objects.filter(
                app_name=app,
                recipient_id__in=recipients,
                status=DeliveryStatus.SUPPRESSED,
                error_category__in=policy.HELD,
            ).exclude(pk__in=list(self._mine))  # this batch's rows: as they are in memory
            self._held[app] = set(rows.order_by().values_list("kind", "recipient_id").distinct())
        if (event.kind, event.recipient_id) in self._held[app]:
            return True
        return any(held(d) for d in self._others(delivery, event.kind, event.recipient_id))

    def _read_recent(self, delivery: Delivery, since: datetime) -> bool:
        """Every row about the batch's (kind, recipient, subject) created since ``since``, any
        status (a window holder's state too), read once per app; False: not read in full."""
        app = delivery.app_name
        if app not in self._recent:
            mine = self._of_app(app)
            rows = list(
                Delivery.objects.filter(
                    app_name=app,
                    kind__in={d.kind for d in mine},
                    recipient_id__in={d.recipient_id for d in mine},
                    subject_id__in={d.subject_id for d in mine},
                    created_at__gte=since,
                )
                .exclude(pk__in=list(self._mine))
                .values_list(
                    "pk", "event_id", "kind", "recipient_id", "subject_id", "status", "payload",
                    "created_at",
                )[: READ_LIMIT + 1]
            )  # fmt: skip
            self._recent[app] = since if len(rows) <= READ_LIMIT else None
            subjects: dict[tuple[str, str, str], list[Row]] = {}
            for row in rows:
                subjects.setdefault((row[2], row[3], row[4]), []).append(row)
            self._subjects[app] = subjects
            self._states[app] = {str(row[1]): row[5] for row in rows}
        start = self._recent[app]
        # A read from later than ``since`` (a clock set back) could miss rows the query would see.
        return start is not None and start <= since

    def sent_since(
        self, event: Event, delivery: Delivery, since: datetime
    ) -> list[tuple[str, Any]] | None:
        """The (event id, payload) of the rows about the same subject sent since ``since``."""
        if not self._read_recent(delivery, since):
            return None
        subject = (event.kind, event.recipient_id, event.subject_id)
        read = [
            (str(r[1]), r[6])
            for r in self._subjects[delivery.app_name].get(subject, ())
            if r[5] in policy.SENT and r[7] >= since
        ]
        read += [
            (str(d.event_id), d.payload)
            for d in self._others(delivery, event.kind, event.recipient_id)
            if d.subject_id == event.subject_id and d.status in policy.SENT
            and d.created_at >= since
        ]  # fmt: skip
        return read if len(read) < SUBJECT_LIMIT else None

    def may_push(self, holder: str, delivery: Delivery, config: Policy) -> bool | None:
        """Whether the event holding a dedup window was sent or may still be; None: not read."""
        if (mine := self._by_event.get(holder)) is not None:
            return mine.status in (*policy.SENT, *policy.PENDING)
        since = timezone.now() - timedelta(seconds=config.dedup_window)
        if not self._read_recent(delivery, since):
            return None
        state = self._states[delivery.app_name].get(holder)
        return None if state is None else state in (*policy.SENT, *policy.PENDING)

    def admitted_since(self, event: Event, delivery: Delivery, midnight: datetime) -> list[str]:
        """Event ids of the recipient's rows of the kind the cap counts since ``midnight``."""
        key = (delivery.app_name, event.kind, midnight)
        if key not in self._counted:
            recipients = {d.recipient_id for d in self._of_app(delivery.app_name)}
            rows = Delivery.objects.filter(
                policy.COUNTED,
                app_name=delivery.app_name,
                kind=event.kind,
                recipient_id__in=recipients,
                created_at__gte=midnight,
            ).exclude(pk__in=list(self._mine))
            found: dict[str, dict[int, str]] = {}
            for pk, recipient, event_id in rows.values_list("pk", "recipient_id", "event_id"):
                found.setdefault(recipient, {})[pk] = str(event_id)
            self._counted[key] = found
        ids = list(self._counted[key].get(event.recipient_id, {}).values())
        return ids + [
            str(d.event_id)
            for d in self._others(delivery, event.kind, event.recipient_id)
            if counted(d) and d.created_at >= midnight
        ]
