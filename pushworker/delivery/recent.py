"""What the delivery policy knows of recent rows during one run: the database's answers, read once
per run and app (``store.recent``), with the run's own rows as the run changes them.

A run (of one event or a drain's batch) decides its events one after another in claim order, and
each answer is what that event would get alone, one event after another: the database's rows, less
the event's own, plus the run's rows as they are by then (a repeat held back three events earlier
is known to the fourth). The run sends nothing until every event is planned, so an event it
admitted earlier counts as sent for the later ones (:meth:`Recent.admitted`): within the daily
cap, a dedup window's confirmation, and the recipient's last push for a digest (so a digest is
said once).

Rows other workers change meanwhile are seen as of the read. Between workers Redis decides (dedup
windows, cap sets); these reads are its confirmation after a loss, the digest's rows and a window
holder's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from pushworker.events.base import Event
from pushworker.store import recent
from pushworker.store.models import Delivery, DeliveryStatus

SENT, PENDING, HELD = recent.SENT, recent.PENDING, recent.HELD


def counted(delivery: Delivery) -> bool:
    """Whether the daily cap counts a row (``store.recent.COUNTED``, of a row in memory)."""
    in_flight = (DeliveryStatus.SENDING, DeliveryStatus.RETRYING)
    return delivery.status in SENT or (delivery.status in in_flight and delivery.attempts > 0)


def held(delivery: Delivery) -> bool:
    """Whether a row was held back by dedup or the cap (what a digest reports)."""
    return delivery.status == DeliveryStatus.SUPPRESSED and delivery.error_category in HELD


class Recent:
    """One run's view of recent rows, over the claimed rows it plans (in claim order).

    ``deliveries`` must be the instances the run plans with: their changes during the run are part
    of the answers.
    """

    def __init__(self, deliveries: Sequence[Delivery]) -> None:
        self._mine = {d.pk: d for d in deliveries}
        self._order = {d.pk: n for n, d in enumerate(deliveries)}
        self._sending: set[Any] = set()  # the rows the run will send (admitted, with devices)
        self._by_event = {str(d.event_id): d for d in deliveries}
        self._by_recipient: dict[tuple[str, str, str], list[Delivery]] = {}
        for d in deliveries:
            self._by_recipient.setdefault((d.app_name, d.kind, d.recipient_id), []).append(d)
        self._held: dict[str, dict[tuple[str, str], list[tuple[str, Any]]]] = {}
        self._sent: dict[str, tuple[datetime, dict]] = {}  # per app: since when, rows by subject
        self._states: dict[str, dict[str, str] | None] = {}  # per app: event id -> status
        self._counted: dict[tuple[str, str, datetime], dict[str, dict[int, str]]] = {}

    def admitted(self, delivery: Delivery) -> None:
        """The run will send ``delivery``: to the events after it, it is as good as sent."""
        self._sending.add(delivery.pk)

    def _pushed(self, delivery: Delivery) -> bool:
        return delivery.status in SENT or delivery.pk in self._sending

    def _of_app(self, app_name: str) -> list[Delivery]:
        return [d for d in self._mine.values() if d.app_name == app_name]

    def _others(self, delivery: Delivery, kind: str, recipient: str) -> list[Delivery]:
        """This run's other rows of the same app, kind and recipient, in claim order."""
        found = self._by_recipient.get((delivery.app_name, kind, recipient), ())
        return [d for d in found if d.pk != delivery.pk]

    def _keys(self, app: str) -> set[tuple[str, str, str]]:
        return {(d.kind, d.recipient_id, d.subject_id) for d in self._of_app(app)}

    def held_since_last_push(self, event: Event, delivery: Delivery) -> list[Event]:
        """The recipient's events of the kind held back since its last push, as one event after
        another in claim order would see them (what a digest reports)."""
        mine = self._order[delivery.pk]
        before = [
            d
            for d in self._others(delivery, event.kind, event.recipient_id)
            if self._order[d.pk] < mine
        ]
        pushes = [n for n, d in enumerate(before) if self._pushed(d)]
        if pushes:  # a push earlier in this run is the last one: only what was held after it
            rows = [(str(d.event_id), d.payload) for d in before[pushes[-1] + 1 :] if held(d)]
        else:  # the last push is in the database: what it holds since, then this run's
            app = delivery.app_name
            if app not in self._held:
                recipients = {d.recipient_id for d in self._of_app(app)}
                self._held[app] = recent.held_since_last_push(app, recipients, self._mine)
            rows = list(self._held[app].get((event.kind, event.recipient_id), ()))
            rows += [(str(d.event_id), d.payload) for d in before if held(d)]
        rebuild = type(event).from_row
        return [rebuild(e, delivery.app_name, event.recipient_id, p) for e, p in rows]

    def held_after_pushes(self) -> list[Delivery]:
        """The rows held back after the recipient's last admitted push in claim order (those
        before it were said by a push of this run)."""
        late: list[Delivery] = []
        for rows in self._by_recipient.values():  # each in claim order
            pushes = [n for n, d in enumerate(rows) if d.pk in self._sending]
            if pushes:
                late += [d for d in rows[pushes[-1] + 1 :] if held(d)]
        return late

    def sent_since(self, event: Event, delivery: Delivery, since: datetime) -> list[tuple]:
        """The (event id, payload) of the rows about the same subject sent since ``since``."""
        app = delivery.app_name
        read = self._sent.get(app)
        if read is None or read[0] > since:  # a clock set back could miss rows: read again
            read = (since, recent.sent_about(app, self._keys(app), since, self._mine))
            self._sent[app] = read
        subject = (event.kind, event.recipient_id, event.subject_id)
        rows = [(e, p) for e, p, created in read[1].get(subject, ()) if created >= since]
        return rows + [
            (str(d.event_id), d.payload)
            for d in self._others(delivery, event.kind, event.recipient_id)
            if d.subject_id == event.subject_id and self._pushed(d) and d.created_at >= since
        ]

    def may_push(self, holder: str, delivery: Delivery, window: float) -> bool:
        """Whether the event holding a dedup window was sent or may still be."""
        if (mine := self._by_event.get(holder)) is not None:
            return mine.status in (*SENT, *PENDING)
        app = delivery.app_name
        if app not in self._states:
            # A holder set its window at most ``window`` s ago, mostly about a row as recent.
            since = timezone.now() - timedelta(seconds=window)
            self._states[app] = recent.states_about(app, self._keys(app), since, self._mine)
        states = self._states[app]
        state = states.get(holder) if states is not None else None
        if state is None:
            state = recent.state_of(holder)
        return state in (*SENT, *PENDING)

    def admitted_since(self, event: Event, delivery: Delivery, midnight: datetime) -> list[str]:
        """Event ids of the recipient's rows of the kind the cap counts since ``midnight``."""
        key = (delivery.app_name, event.kind, midnight)
        if key not in self._counted:
            recipients = {d.recipient_id for d in self._of_app(delivery.app_name)}
            self._counted[key] = recent.counted_since(
                delivery.app_name, event.kind, recipients, midnight, self._mine
            )
        ids = list(self._counted[key].get(event.recipient_id, {}).values())
        return ids + [
            str(d.event_id)
            for d in self._others(delivery, event.kind, event.recipient_id)
            if (counted(d) or d.pk in self._sending) and d.created_at >= midnight
        ]
