"""The runs the tasks start: one event from its own message, or a drain's batch of due rows.

No Celery here. A message per event (the queue is short, or the event is urgent) is delivered by
:func:`deliver`: the row is claimed with one conditional UPDATE and handed to the engine as a batch
of one. A drain claims due rows (:func:`claim`): a backlog's rows and retries whose time has come,
urgent ones first, and hands them to the same engine. The task publishes what this module says
must go to the broker (another drain, or each event of a dead drain's batch alone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pushworker import conf
from pushworker.delivery import engine
from pushworker.events.base import Event
from pushworker.store import connection, deliveries
from pushworker.store.models import TERMINAL_STATUSES, Delivery, DeliveryStatus

GIVE_BACK_PAUSES = (0.1, 0.5, None)  # a failed run's tries to hand its rows back, and the pauses


@dataclass(frozen=True)
class Outcome:
    """What a run of one event did: its status now (``retrying``: it waits as a row; ``sending``:
    another live run holds it; ``purged``: the row outlived its retention)."""

    status: str
    woke: int = 0  # rows that waited for an outage this run ended: a drain should take them


def deliver(event: Event, *, redelivered: bool = False, retried: bool = False) -> Outcome:
    """Deliver one event of any kind; safe to call again for the same event at any time.

    A request is made only after the row was claimed by this run, and a target Xiaomi already
    accepted is never requested again, even when the recipient's devices changed since. The only
    repeat possible is a target whose request was cut by a crash or failed after it may have
    reached Xiaomi (a read timeout, a 500): it is sent again (on Android with the same
    ``notify_id``) and the row is flagged. A ``retried`` message whose row is gone was purged
    after it finished: it ends as ``purged`` without a request.
    """
    settings = conf.get()
    row = deliveries.get(event.event_id)
    if row is None:
        if retried:
            return Outcome("purged")
        # A message from another producer (or an old one): its row is written here first.
        row = deliveries.ensure(event, _app_name(event, settings))
    if row.status in TERMINAL_STATUSES:
        return Outcome(row.status)
    if not deliveries.claim(
        row,
        redelivered=redelivered,
        lease_seconds=settings.claim_lease_seconds,
        batch_lease=settings.batch_run_seconds,  # a drain may hold its rows that long
    ):
        # Another live run holds it and ends it; if that run dies, its redelivered message, the
        # drain's take-over or the sweeper hands the row on.
        return Outcome(DeliveryStatus.SENDING)
    try:
        report = engine.run([row], settings)
    except Exception as error:
        if connection.lost(error):  # the database's failure: the row is due again at once
            _give_back([row])
        raise
    return Outcome(report.outcomes[row.pk], report.woke)


def _app_name(event: Event, settings: conf.Settings) -> str:
    try:
        return settings.app(event.app_name).name
    except KeyError:  # recorded as it came; the run ends it as a configuration failure
        return event.app_name or settings.default_app


@dataclass
class Claimed:
    """The rows a drain holds; ``alone``: a dead drain's batch, handed back to run one by one."""

    rows: list[Delivery] = field(default_factory=list)
    alone: list[Delivery] = field(default_factory=list)


def claim(run_id: str, settings: conf.Settings) -> Claimed:
    """Rows a dead copy of this drain left behind (crash counted), else the due rows.

    A dead drain's batch is not tried again as a batch, nor topped up with fresh events: one of
    its events may be what killed it, and only alone can it reach ``MAX_CRASHES`` without taking
    others along.
    """
    left = deliveries.take_over(run_id)
    if left:
        deliveries.release(left)
        return Claimed(alone=left)
    return Claimed(rows=deliveries.claim_due(run_id, settings.batch_size))


def claim_rest(run_id: str, claimed: Claimed, settings: conf.Settings) -> None:
    """Top the batch up after the drain said the backlog is over (closes the race with a producer
    that saw the draining flag just before it went)."""
    room = settings.batch_size - len(claimed.rows)
    if room > 0 and not claimed.alone:
        claimed.rows = deliveries.claim_due(run_id, room) or claimed.rows


def hand_back(run_id: str, error: BaseException) -> list[Delivery]:
    """The rows a failed drain still holds. When the database failed it, they are due again as
    rows on a new connection (answers none); else they go back to ``queued`` to run alone, as
    after a crash, and are answered for the task to publish."""
    if connection.lost(error):
        _give_back(run_id)
        return []
    held = deliveries.held_by(run_id)
    deliveries.release(held)
    return held


def _give_back(held: str | list[Delivery]) -> None:
    """``deliveries.give_back``, on a new connection each try: the database that dropped the
    run's connection may drop the next one too (a restart, repeated terminations). Rows it could
    not give back wait for their claim to expire and the sweeper, a crash counted."""
    for pause in GIVE_BACK_PAUSES:
        try:
            deliveries.give_back(held)
            return
        except Exception as error:
            if not connection.lost(error) or pause is None:
                raise
            time.sleep(pause)


def drain(claimed: Claimed, settings: conf.Settings) -> engine.Report:
    """Deliver a drain's rows. Its budget for new requests runs from here, ``RETRY_CAP`` long, so
    the drain ends within its time limit (``RETRY_CAP`` + one lease); what it could not send then
    waits, due at once."""
    deadline = time.monotonic() + settings.retry.cap_seconds
    return engine.run(claimed.rows, settings, deadline)
