"""Batch runs: claim a backlog of outbox rows, plan each event, send them grouped, end them in bulk.

No Celery here. Under a backlog the web path leaves new events as rows no broker message carries
(``pushworker.producer.backlog``); a run of ``pushworker.drain`` claims up to ``BATCH_SIZE`` of them
and
delivers them with the same rules as one event (``service.plan`` and ``service.judge``), but with
one ``multi_messages`` request per app, platform, host and target type (``batch_send``) and a
few statements for the whole batch. The task publishes what this module asks for: another run
while the backlog lasts, a message per event to retry, or, for a batch whose run died, one message
per event so that a poison event is isolated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pushworker import conf
from pushworker.delivery import batch_send, policy_batch, ratelimit, service
from pushworker.delivery.batch_send import Entry
from pushworker.events import registry
from pushworker.events.base import Event
from pushworker.mipush import SendResult
from pushworker.store import outbox, records_batch
from pushworker.store.models import Delivery, DeliveryStatus
from pushworker.store.records import Failure


@dataclass
class Claimed:
    """The rows a run holds; ``alone``: a dead run's batch, handed back to run one by one."""

    deliveries: list[Delivery] = field(default_factory=list)
    alone: list[Delivery] = field(default_factory=list)


@dataclass
class Report:
    """What a run did: outcomes by status, and the events to publish again after a countdown."""

    counts: dict[str, int] = field(default_factory=dict)
    retries: list[tuple[Event, float]] = field(default_factory=list)

    def add(self, event: Event, outcome: service.Outcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if outcome.countdown is not None:
            self.retries.append((event, outcome.countdown))

    def summary(self) -> str:
        return ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items())) or "nothing"


def kinds() -> list[str]:
    return list(registry.kinds())


def claim(run_id: str, settings: conf.Settings) -> Claimed:
    """Rows a dead copy of this run left behind (crash counted), else the oldest of the backlog.

    A dead run's batch is not tried again as a batch, nor topped up with fresh events: one of its
    events may be what killed it, and only alone can it reach ``MAX_CRASHES`` without taking
    others along.
    """
    left = records_batch.take_over(run_id)
    if left:
        records_batch.release(left)
        return Claimed(alone=left)
    return Claimed(deliveries=records_batch.claim_backlog(run_id, settings.batch_size, kinds()))


def hand_back(run_id: str) -> list[Delivery]:
    """The rows the run still holds, back to ``queued`` to run alone (the run failed)."""
    held = records_batch.held_by(run_id)
    records_batch.release(held)
    return held


def claim_rest(run_id: str, claimed: Claimed, settings: conf.Settings) -> None:
    """Top the batch up after the run said the backlog is over (closes the race with a producer
    that saw the draining flag just before it went)."""
    room = settings.batch_size - len(claimed.deliveries)
    if room > 0 and not claimed.alone:
        claimed.deliveries = (
            records_batch.claim_backlog(run_id, room, kinds()) or claimed.deliveries
        )


def deliver(deliveries: Sequence[Delivery], settings: conf.Settings) -> Report:
    """Deliver claimed rows; every one ends, or is parked for a retry the report lists."""
    # The budget for new requests runs from here: planning reads the database for every event.
    deadline = time.monotonic() + settings.retry.cap_seconds
    report, plans = Report(), []
    devices = _devices(deliveries, settings)
    prefetch = policy_batch.Prefetch(deliveries)  # the policy's reads, once for the batch
    for delivery in deliveries:
        event = outbox.event_of(delivery)
        try:
            app = settings.app(delivery.app_name)
        except KeyError as error:
            failure = Failure("configuration", str(error.args[0]))
            report.add(event, service.end(delivery, DeliveryStatus.FAILED, failure))
            continue
        found = devices.get((app.name, delivery.recipient_id), [])
        planned = service.plan(event, delivery, app, settings, devices=found, prefetch=prefetch)
        if isinstance(planned, service.Outcome):
            report.add(event, planned)
        else:
            plans.append(planned)
            if planned.units:  # it goes out: the batch's later events count it as sent
                prefetch.admitted(delivery)
    entries = {id(p): [Entry(p, unit, fields) for unit, fields in p.units] for p in plans}
    _send(entries, settings, deadline)
    _judge(plans, entries, settings, report)
    # Rows held back after a push to the same recipient ended at planning, before that push ended;
    # one event after another they end after it, and the recipient's next push says them.
    records_batch.finish_later(prefetch.held_after_pushes())
    return report


def _devices(deliveries: Sequence[Delivery], settings: conf.Settings) -> dict[tuple, list]:
    """Every recipient's active devices, one query per app."""
    found: dict[tuple, list] = {}
    by_app: dict[str, list[str]] = {}
    for delivery in deliveries:
        try:  # keyed by the resolved name: an empty one is the default app
            by_app.setdefault(settings.app(delivery.app_name).name, []).append(
                delivery.recipient_id
            )
        except KeyError:
            continue  # ends as a configuration failure in deliver()
    for app_name, recipients in by_app.items():
        for user_id, devices in records_batch.devices_of(recipients, app_name).items():
            found[(app_name, user_id)] = devices
    return found


def _send(entries: dict[int, list[Entry]], settings: conf.Settings, deadline: float) -> None:
    """Group the units; each group goes out in requests of at most ``BATCH_SIZE`` targets.

    A kind that is not ``batchable`` keeps one request per unit. No new request starts once the
    run is past the retry cap's worth of time: its units are deferred to a message of their own,
    so the run ends well within its time limit (``RETRY_CAP`` + one run's lease).
    """
    groups: dict[tuple, list[Entry]] = {}
    for entry in (e for unit_entries in entries.values() for e in unit_entries):
        alone = () if entry.planned.event.batchable else (id(entry),)
        groups.setdefault((*batch_send.group_key(entry), *alone), []).append(entry)
    for group in groups.values():
        for chunk in _chunks(group, settings.batch_size):
            batch_send.send(chunk, settings, deadline)  # also stops the halves of a refused one


def _chunks(group: list[Entry], size: int) -> list[list[Entry]]:
    chunks: list[list[Entry]] = [[]]
    targets = 0
    for entry in group:
        if chunks[-1] and targets + len(entry.unit.targets) > size:
            chunks.append([])
            targets = 0
        chunks[-1].append(entry)
        targets += len(entry.unit.targets)
    return [c for c in chunks if c]


def _judge(
    plans: list[service.Planned],
    entries: dict[int, list[Entry]],
    settings: conf.Settings,
    report: Report,
) -> None:
    """Each event's end from its units' answers; the fully sent ones in one statement a request."""
    sent: dict[str | None, tuple[SendResult, list[Delivery]]] = {}
    for planned in plans:
        accepted: list[SendResult] = []
        retryable: list[Failure] = []
        permanent = list(planned.permanent)
        deferred = [
            e.answer for e in entries[id(planned)] if isinstance(e.answer, ratelimit.Deferred)
        ]
        if deferred:
            report.add(planned.event, service.defer(planned.delivery, deferred[0], settings))
            continue
        for entry in entries[id(planned)]:
            assert entry.answer is not None and not isinstance(entry.answer, ratelimit.Deferred)
            service.sort(planned.event, entry.answer, accepted, retryable, permanent)
        outcome = service.judge(
            planned, accepted, retryable, permanent, settings, record_sent=False
        )
        report.add(planned.event, outcome)
        if outcome.status == DeliveryStatus.SENT and accepted and not retryable:
            result = accepted[0]
            sent.setdefault(result.message_id, (result, []))[1].append(planned.delivery)
    for result, deliveries in sent.values():
        records_batch.finish_sent(deliveries, result)
        for delivery in deliveries:
            service.finished(delivery, DeliveryStatus.SENT)
