"""The delivery policy's database reads for a whole batch run: a few queries, not a few per event.

A batch run (:mod:`pushworker.delivery.batch`) plans its events one after another in claim order,
and :mod:`pushworker.delivery.policy` decides each as it would alone. What the policy would read for
each event
is read here once per batch and app, at its first need, and each answer is what that event's own
query would have said: the rows read, less the event's own row, with this batch's rows as this run
has changed them since (the ``Delivery`` instances ``records.finish`` updates: a repeat held back
three events earlier is known to the fourth). An answer that could be incomplete is ``None``, and
the policy asks the database as before.

One thing the database cannot say yet: the batch sends nothing until every event is planned, so
an event admitted earlier in the batch is not sent when a later one is decided, as it would be one
event after another. The run says which events it will send (:meth:`Prefetch.admitted`), and the
answers count them as the database counts sent rows: within the daily cap, a dedup window's
confirmation, and the recipient's last push for a digest (so a digest is said once).

Rows other workers change meanwhile are seen as of the read, one batch's planning earlier than a
query per event would see them. Between workers Redis decides (dedup windows, cap sets); these
reads are its confirmation after a loss, the digest's rows and a window holder's state, where the
same race exists with a query per event, only narrower.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.utils import timezone

from pushworker.conf.policy import Policy
from pushworker.delivery import policy
from pushworker.events.base import Event
from pushworker.store.models import Delivery, DeliveryStatus

# A dedup read of more rows (a flood about a few subjects) is dropped: each event asks alone.
READ_LIMIT = 5000
# The query per event reads at most this many sent rows of one subject, any of them: with as many
# in a read the answers could differ, so the event asks alone.
SUBJECT_LIMIT = 100


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
        self._order = {d.pk: n for n, d in enumerate(deliveries)}  # claim order
        self._sending: set[Any] = set()  # the rows the run will send (admitted, with devices)
        self._by_event = {str(d.event_id): d for d in deliveries}
        self._by_recipient: dict[tuple[str, str, str], list[Delivery]] = {}
        for d in deliveries:
            self._by_recipient.setdefault((d.app_name, d.kind, d.recipient_id), []).append(d)
        self._held: dict[str, set[tuple[str, str]]] = {}
        # Per app: when the read of sent rows starts and the rows by subject (None: too many).
        self._sent: dict[str, tuple[datetime, dict[tuple, list]] | None] = {}
        self._states: dict[str, dict[str, str]] = {}  # per app: event id -> status, of rows read
        self._counted: dict[tuple[str, str, datetime], dict[str, dict[int, str]]] = {}

    def admitted(self, delivery: Delivery) -> None:
        """The run will send ``delivery``: to the events after it, it is as good as sent."""
        self._sending.add(delivery.pk)

    def _pushed(self, delivery: Delivery) -> bool:
        """Whether a row of the batch is sent, or will be, as far as later events are concerned."""
        return delivery.status in policy.SENT or delivery.pk in self._sending

    def _of_app(self, app_name: str) -> list[Delivery]:
        return [d for d in self._mine.values() if d.app_name == app_name]

    def _others(self, delivery: Delivery, kind: str, recipient: str) -> Iterable[Delivery]:
        """This batch's other rows of the same app, kind and recipient."""
        found = self._by_recipient.get((delivery.app_name, kind, recipient), ())
        return (d for d in found if d.pk != delivery.pk)

    def held_since_last_push(self, event: Event, delivery: Delivery) -> list[Event] | None:
        """The recipient's events of the kind held back since its last push, as they would be
        one event after another in claim order; None: the policy asks the database."""
        mine = self._order[delivery.pk]
        before = [
            d
            for d in self._others(delivery, event.kind, event.recipient_id)
            if self._order[d.pk] < mine
        ]
        pushes = [n for n, d in enumerate(before) if self._pushed(d)]
        if not pushes:  # the last push is in the database (held rows of this run are there too)
            return None if self.may_have_held(event, delivery) else []
        # A push earlier in this batch is the last one: only what was held after it is said.
        return [
            type(event).from_row(str(d.event_id), d.app_name, event.recipient_id, d.payload)
            for d in before[pushes[-1] + 1 :]
            if held(d)
        ]

    def held_after_pushes(self) -> list[Delivery]:
        """The rows held back after the recipient's last admitted push in claim order (those
        before it were said by a push of this run)."""
        late: list[Delivery] = []
        for rows in self._by_recipient.values():  # each in claim order
            pushes = [n for n, d in enumerate(rows) if d.pk in self._sending]
            if pushes:
                late += [d for d in rows[pushes[-1] + 1 :] if held(d)]
        return late

    def may_have_held(self, event: Event, delivery: Delivery) -> bool:
        """False when the recipient has no row of the kind held back since its last push (so no
        digest); True when it may have, and the policy asks the database."""
        app = delivery.app_name
        if app not in self._held:
            self._held[app] = self._read_held(app)
        others = self._others(delivery, event.kind, event.recipient_id)
        if any(held(d) or d.status in policy.SENT for d in others):
            return True  # this run changed what the database says: ask it
        return (event.kind, event.recipient_id) in self._held[app]

    def _read_held(self, app: str) -> set[tuple[str, str]]:
        """The (kind, recipient) pairs of the batch with rows held back after their last push,
        or with anything unusual about it: for them the policy asks the database."""
        mine = list(self._mine)  # this batch's rows: as they are in memory
        recipients = {d.recipient_id for d in self._of_app(app)}
        held_rows = Delivery.objects.filter(
            app_name=app,
            recipient_id__in=recipients,
            status=DeliveryStatus.SUPPRESSED,
            error_category__in=policy.HELD,
        ).exclude(pk__in=mine)
        latest = {
            (kind, recipient): at
            for kind, recipient, at in held_rows.order_by()
            .values_list("kind", "recipient_id")
            .annotate(end=Max("finished_at"))
        }
        if not latest:
            return set()
        pushed = Delivery.objects.filter(
            app_name=app, recipient_id__in={r for _, r in latest}, status__in=policy.SENT
        ).exclude(pk__in=mine)
        unended = Count("pk", filter=Q(finished_at__isnull=True))
        last = {
            (kind, recipient): (at, unfinished)
            for kind, recipient, at, unfinished in pushed.order_by()
            .values_list("kind", "recipient_id")
            .annotate(end=Max("finished_at"), unended=unended)
        }
        # Held back since the last push: later than the latest sent row's end. A sent row without
        # an end (never written so) would sort differently per database: ask.
        return {
            pair
            for pair, at in latest.items()
            if pair not in last
            or last[pair][1]
            or at is None
            or last[pair][0] is None
            or at > last[pair][0]
        }

    def _about_my_subjects(self, app: str, since: datetime) -> Any:
        """The rows about the batch's (kind, recipient, subject) created since ``since`` (and some
        of other combinations, left out where they are looked up)."""
        mine = self._of_app(app)
        return Delivery.objects.filter(
            app_name=app,
            kind__in={d.kind for d in mine},
            recipient_id__in={d.recipient_id for d in mine},
            subject_id__in={d.subject_id for d in mine},
            created_at__gte=since,
        ).exclude(pk__in=list(self._mine))  # this batch's rows: as they are in memory

    def sent_since(
        self, event: Event, delivery: Delivery, since: datetime
    ) -> list[tuple[str, Any]] | None:
        """The (event id, payload) of the rows about the same subject sent since ``since``."""
        app = delivery.app_name
        if app not in self._sent:
            rows = self._about_my_subjects(app, since).filter(status__in=policy.SENT)
            fields = ("kind", "recipient_id", "subject_id", "event_id", "payload", "created_at")
            found = list(rows.values_list(*fields)[: READ_LIMIT + 1])
            subjects: dict[tuple[str, str, str], list[tuple[str, Any, datetime]]] = {}
            for kind, recipient, subject, event_id, payload, created in found:
                subjects.setdefault((kind, recipient, subject), []).append(
                    (str(event_id), payload, created)
                )
            self._sent[app] = (since, subjects) if len(found) <= READ_LIMIT else None
        read = self._sent[app]
        # A read from later than ``since`` (a clock set back) could miss rows the query would see.
        if read is None or read[0] > since:
            return None
        subject = (event.kind, event.recipient_id, event.subject_id)
        rows = [(e, p) for e, p, created in read[1].get(subject, ()) if created >= since]
        rows += [
            (str(d.event_id), d.payload)
            for d in self._others(delivery, event.kind, event.recipient_id)
            if d.subject_id == event.subject_id and self._pushed(d) and d.created_at >= since
        ]
        return rows if len(rows) < SUBJECT_LIMIT else None

    def may_push(self, holder: str, delivery: Delivery, config: Policy) -> bool | None:
        """Whether the event holding a dedup window was sent or may still be; None: not read."""
        if (mine := self._by_event.get(holder)) is not None:
            return mine.status in (*policy.SENT, *policy.PENDING)
        app = delivery.app_name
        if app not in self._states:
            # A holder set its window at most DEDUP_WINDOW ago, mostly about a row as recent.
            since = timezone.now() - timedelta(seconds=config.dedup_window)
            rows = self._about_my_subjects(app, since).values_list("event_id", "status")
            found = list(rows[: READ_LIMIT + 1])
            states = {str(e): status for e, status in found}
            self._states[app] = states if len(found) <= READ_LIMIT else {}
        state = self._states[app].get(holder)
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
            if (counted(d) or d.pk in self._sending) and d.created_at >= midnight
        ]
