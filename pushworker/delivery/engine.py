"""The delivery engine: a run delivers the rows it claimed, one event or a drain's batch alike.

A run plans its events in claim order (:mod:`pushworker.delivery.planning`), groups their units by
app secret, platform, host and target type, sends each group through the one send path
(:mod:`pushworker.delivery.sender`), judges every event from its units' answers and writes the
outcomes in a few statements: the events one request sent in full end in one UPDATE, the events
that must wait go back to wait as rows in one more. No Celery here: the caller says which rows the
run holds, and publishes nothing on the engine's behalf.

An event that must be tried again waits as a row (``retrying``, no broker message) until its due
time, when a drain claims it with others that are due: a Xiaomi blip costs a few requests per
group, not a message and a request per event. A wait that is no failure (an outage's next probe,
the rate limit, quiet hours, the run's time) spends nothing; a transient failure spends a retry
and waits a full-jitter backoff. An event ends ``dead`` only past its kind's lifetime (or after
``RETRY_MAX`` spent retries, when set), never because an outage lasted.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from pushworker import conf
from pushworker.delivery import outage, planning, ratelimit, sender
from pushworker.delivery.planning import Ended, Planned
from pushworker.delivery.preferences import Preferences
from pushworker.delivery.recent import Recent
from pushworker.events.base import OnQuota
from pushworker.mipush import SendResult
from pushworker.ops import metrics
from pushworker.store import attempts, deliveries, devices, outbox
from pushworker.store.deliveries import Failure, Parked
from pushworker.store.models import Delivery, DeliveryStatus

log = logging.getLogger("pushworker.delivery")


@dataclass
class Report:
    """What a run did: each row's outcome (a terminal status, or ``retrying``: it waits)."""

    outcomes: dict[int, str] = field(default_factory=dict)  # delivery pk -> status
    requests: int = 0
    woke: int = 0  # rows that waited for an outage this run's requests ended

    def add(self, delivery: Delivery, status: str) -> None:
        self.outcomes[delivery.pk] = status

    @property
    def counts(self) -> dict[str, int]:
        """How many rows ended in each status (``retrying``: they wait)."""
        found: dict[str, int] = {}
        for status in self.outcomes.values():
            found[status] = found.get(status, 0) + 1
        return found

    def summary(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(self.counts.items())) or "nothing"


def run(rows: Sequence[Delivery], settings: conf.Settings, deadline: float = math.inf) -> Report:
    """Deliver claimed rows (``sending``, held by this run); every one ends or waits as a row.

    No request starts after ``deadline`` (``time.monotonic``); the units left then wait, due at
    once, without spending a retry.
    """
    report, parked, plans = Report(), [], []
    seen = Recent(rows)  # the policy's reads, once for the run
    chosen = Preferences(rows)  # the recipients' preferences, once per app for the run
    pasts = attempts.histories(rows)
    found = _devices(rows, settings)
    for row in rows:
        event = outbox.event_of(row)
        app = settings.apps.get(row.app_name or settings.default_app)
        recipients = found.get((app.name if app else "", row.recipient_id), [])
        past = pasts.get(row.pk, attempts.History())
        result = planning.plan(
            event, row, settings, past=past, found=recipients, seen=seen, chosen=chosen
        )
        if isinstance(result, Ended):
            _ended(result.delivery, result.status, result.failure)
            report.add(row, result.status)
        elif isinstance(result, Parked):
            parked.append(result)
        else:
            plans.append(result)
            if result.units:  # it goes out: the run's later events count it as sent
                seen.admitted(row)
    entries = {id(p): _entries(p) for p in plans}
    sent = sender.Sent()
    _send(plans, entries, settings, sent, deadline)
    report.requests = sent.requests
    sent_together: dict[tuple[str, str, int], list[Delivery]] = {}
    for planned in plans:
        verdict = _judge(planned, entries[id(planned)], settings)
        if isinstance(verdict, Parked):
            parked.append(verdict)
        elif isinstance(verdict, tuple):  # fully sent by one request: ended with the others
            sent_together.setdefault(verdict, []).append(planned.delivery)
            report.add(planned.delivery, DeliveryStatus.SENT)
        else:
            report.add(planned.delivery, verdict.status)
    for (message_id, trace_id, requests), together in sent_together.items():
        deliveries.finish_sent(together, message_id, trace_id, requests)
        for delivery in together:
            _ended(delivery, DeliveryStatus.SENT)
    deliveries.park(parked)
    for item in parked:
        metrics.retry_scheduled(item.delivery, item.spent)
        report.add(item.delivery, DeliveryStatus.RETRYING)
    # Rows held back after a push to the same recipient ended at planning, before that push ended;
    # one event after another they end after it, and the recipient's next push says them.
    deliveries.finish_later(seen.held_after_pushes())
    if sent.outages_ended:
        report.woke = deliveries.wake(outage.CATEGORY)
    return report


def _devices(rows: Sequence[Delivery], settings: conf.Settings) -> dict[tuple[str, str], list]:
    """Every recipient's active devices, one query per app (keyed by the resolved app name)."""
    by_app: dict[str, set[str]] = {}
    for row in rows:
        app = settings.apps.get(row.app_name or settings.default_app)
        if app is not None:  # an unknown app ends as a configuration failure at planning
            by_app.setdefault(app.name, set()).add(row.recipient_id)
    return {
        (app_name, user_id): found
        for app_name, recipients in by_app.items()
        for user_id, found in devices.active_of(recipients, app_name).items()
    }


def _entries(planned: Planned) -> list[sender.Entry]:
    return [
        sender.Entry(planned.delivery, unit, fields, maybe_sent=planned.maybe_sent(unit))
        for unit, fields in planned.units
    ]


def _send(
    plans: list[Planned],
    entries: dict[int, list[sender.Entry]],
    settings: conf.Settings,
    sent: sender.Sent,
    deadline: float,
) -> None:
    """Group the units; each group goes out in requests of at most ``BATCH_SIZE`` targets. A kind
    that may not share a request (``batchable`` off) keeps one request per unit."""
    groups: dict[tuple, list[sender.Entry]] = {}
    for planned in plans:
        for entry in entries[id(planned)]:
            alone = () if planned.event.policy.batchable else (id(entry),)
            groups.setdefault((*sender.group_key(entry), *alone), []).append(entry)
    for group in groups.values():
        for chunk in sender.chunks(group, settings.batch_size):
            sender.send(chunk, settings, sent, deadline)


def _retryable(planned: Planned, failure: Failure) -> bool:
    # A used-up daily quota is the kind's call: a stale visit fails, a shipped order waits.
    if failure.category == "quota":
        return planned.event.policy.quota_exhausted == OnQuota.RETRY
    return failure.category in ("transient", "throttled")


def _judge(
    planned: Planned, entries: list[sender.Entry], settings: conf.Settings
) -> Parked | Ended | tuple[str, str, int]:
    """The event's end from its units' answers, or its wait as a row.

    Answers ``(message id, trace id, requests)`` for an event sent in full: the run ends those
    together, one statement per first request (the row keeps that request's ids)."""
    delivery, past = planned.delivery, planned.past
    requests = sum(e.requests for e in entries)
    later = [e.answer for e in entries if isinstance(e.answer, ratelimit.Later)]
    if later:
        wait = max(w.wait for w in later)
        # Spread a crowd that waited for one moment (an outage's probe, the limiter's slot).
        due = timezone.now() + timedelta(seconds=wait * random.uniform(1.0, 1.2))
        failure = Failure(later[0].category, str(later[0]))
        return Parked(delivery, failure, due, spent=False, attempts=requests)
    accepted = [e.answer for e in entries if isinstance(e.answer, SendResult)]
    failures = [e.answer for e in entries if isinstance(e.answer, Failure)]
    retryable = [f for f in failures if _retryable(planned, f)]
    permanent = planned.permanent + [f for f in failures if not _retryable(planned, f)]
    if retryable:
        event, policy = planned.event, settings.retry
        last: Failure | None = None  # the failure it gives up on, if it does
        if planning.expired(event, delivery, settings):
            last = planning.expiry(event, settings, retryable[0])
        elif policy.max_retries is not None and delivery.retries >= policy.max_retries:
            last = retryable[0]
        if last is not None:
            if accepted or past.sent:  # some of the recipient's devices have it: not dead
                message_id, trace_id = _ids(accepted, past)
                return _end(delivery, DeliveryStatus.PARTIAL, last, requests, message_id, trace_id)
            return _end(delivery, DeliveryStatus.DEAD, last, requests)
        throttled = any(f.category in ("throttled", "quota") for f in retryable)
        ceiling = policy.countdown_ceiling(delivery.retries, throttled)
        due = timezone.now() + timedelta(seconds=random.uniform(0, ceiling))  # full jitter
        return Parked(delivery, retryable[0], due, spent=True, attempts=requests)
    if accepted or past.sent:
        # Reached some of the recipient's devices: "partial" when others could not be sent to.
        if not permanent and accepted:  # ended with the others its first request sent
            return (accepted[0].message_id or "", accepted[0].trace_id or "", requests)
        status = DeliveryStatus.PARTIAL if permanent else DeliveryStatus.SENT
        message_id, trace_id = _ids(accepted, past)
        failure = permanent[0] if permanent else None
        return _end(delivery, status, failure, requests, message_id, trace_id)
    return _end(delivery, DeliveryStatus.FAILED, permanent[0], requests)


def _ids(accepted: list[SendResult], past: attempts.History) -> tuple[str, str]:
    """Xiaomi's ids the row keeps: this run's first accepted request's, else an earlier run's."""
    if accepted:
        return accepted[0].message_id or "", accepted[0].trace_id or ""
    return past.message_id, past.trace_id


def _end(
    delivery: Delivery,
    status: str,
    failure: Failure | None,
    requests: int,
    message_id: str = "",
    trace_id: str = "",
) -> Ended:
    deliveries.finish(
        delivery,
        status,
        failure=failure,
        message_id=message_id,
        trace_id=trace_id,
        attempts=requests,
    )
    _ended(delivery, status, failure)
    return Ended(delivery, status, failure)


def _ended(delivery: Delivery, status: str, failure: Failure | None = None) -> None:
    metrics.delivery_finished(delivery, status, failure.category if failure else "")
    # A sent event's request has its own "sent" line; one line per event of a batch of 200 costs
    # as much CPU as the rest of the run, so it is a debug line. Every other end is news.
    level = logging.DEBUG if status == DeliveryStatus.SENT else logging.INFO
    log.log(
        level,
        "finished",
        extra={
            "delivery_id": str(delivery.event_id),
            "status": status,
            "code": failure.code if failure else None,
        },
    )
