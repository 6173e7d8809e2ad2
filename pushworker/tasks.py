"""Thin Celery tasks, one per event kind: explicit names, ids and names in, retry decision out."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task, signals
from celery.contrib.django.task import DjangoTask
from celery.result import AsyncResult
from django.db import close_old_connections

from pushworker import conf
from pushworker.broker import saturation
from pushworker.broker.install import require_installed
from pushworker.delivery import service, summaries
from pushworker.events import InvalidEventError, registry
from pushworker.events.base import Event
from pushworker.ops import logs, metrics
from pushworker.producer import backlog, enqueue
from pushworker.store import deliveries, outbox, purge
from pushworker.store.models import Delivery, DeliveryStatus

log = logging.getLogger("pushworker.tasks")
SWEEP_LIMIT = 500  # rows one sweep republishes
PURGE_SECONDS = 300  # one beat run's budget; the schedule runs it hourly


@signals.task_prerun.connect
def _usable_database_connections(sender: Any = None, **_: Any) -> None:
    """Reuse connections across tasks, but never one that is too old or died (a DB restart)."""
    if getattr(sender, "name", "").startswith("pushworker."):
        close_old_connections()


@signals.worker_init.connect
def _serve_metrics(sender: Any = None, **_: Any) -> None:
    """The worker's /metrics on ``METRICS_PORT``, with the outbox and the worker's saturation
    (queue depth, busy pool slots) counted at scrape time."""
    pending = metrics.ScrapeTimeGauge(
        "pushworker_outbox_pending",
        "Queued deliveries the broker has not taken yet",
        outbox.pending_count,
    )
    metrics.start_worker_server([pending, saturation.SaturationCollector(sender)])


signals.worker_process_shutdown.connect(metrics.child_exited)
signals.task_prerun.connect(logs.task_started)  # the enqueuer's correlation id on every line
signals.task_postrun.connect(logs.task_ended)
logs.quiet_maintenance(
    ("pushworker.relay_outbox", "pushworker.sweep_stuck", "pushworker.send_daily_summaries")
)
DRAIN = "pushworker.drain"


class DeliveryFailed(Exception):
    """Raised after a delivery was recorded ``failed`` or ``dead``: Flower shows the task FAILURE.

    Listed in the task's ``throws``: Celery neither retries it nor logs a traceback for it.
    """


def _shown(status: str, event_id: Any) -> str:
    if status in (DeliveryStatus.FAILED, DeliveryStatus.DEAD):
        raise DeliveryFailed(f"{status}: delivery {event_id} (see its row for Xiaomi's answer)")
    return status


class EventTask(DjangoTask):
    """The task of one event kind (``kind_class``). ``delay`` and ``delay_on_commit`` check the
    arguments, then keep the web process waiting at most the enqueue budget
    (``PUSHWORKER_ENQUEUE_BUDGET_MS``); bad arguments raise :class:`InvalidEventError` naming the
    argument.

    ``apply_async`` stays Celery's own: the worker's retries, the relay and the sweeper use it.
    """

    kind_class: type[Event]

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        require_installed(self.app, self.name)  # before anything is written or published
        event = self.kind_class.from_call(*args, **kwargs)
        result = self.AsyncResult(enqueue.enqueue(self, event))
        logs.enqueued(event.event_id, event.kind, conf.get().app(event.app_name).name)
        return result

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> str:
        """Enqueue once the caller's transaction commits; returns the event id at once."""
        require_installed(self.app, self.name)
        using = kwargs.pop("using", None)
        event = self.kind_class.from_call(*args, **kwargs)
        event_id = enqueue.enqueue_on_commit(self, event, using=using)
        app = conf.get().app(event.app_name).name
        logs.enqueued(event_id, event.kind, app, on_commit=True)
        return event_id

    def apply_async(self, *args: Any, **kwargs: Any) -> AsyncResult:
        require_installed(self.app, self.name)
        return super().apply_async(*args, **kwargs)


def _run(task: EventTask, kind: type[Event], args: tuple, kwargs: dict[str, Any]) -> str:
    """The one run path of every kind: check, then let the service claim and deliver it.

    ``kwargs`` may hold arguments this version does not know (another producer version's): such
    a message is recorded as a rejected row, rather than failing in Celery's argument check.
    """
    names = [*kind.arguments, "app_name", "event_id"]
    given = dict(zip(names, args, strict=False)) | kwargs
    given["event_id"] = given.get("event_id") or task.request.id
    try:
        if len(args) > len(names):
            kind.from_call(*args, **kwargs)  # raises, naming the count
        event = kind.from_call(**given)
    except InvalidEventError as error:
        # A message written by hand or by an old producer: record it, never crash-loop on it.
        raw = {name: given.get(name) for name in names[:-1]}
        # A malformed copy of an event already recorded keeps (and shows) that event's status.
        recorded, created = deliveries.reject(given["event_id"], raw, str(error), kind.kind)
        metrics.rejected(recorded, created)
        return _shown(recorded.status, given["event_id"])
    # Redis marks every restored message redelivered, also one restored only because a live worker
    # held it past the visibility timeout waiting for its ETA: that copy runs beside the original.
    # So for a message with an ETA, redelivery is no sign that an earlier run died, and only the
    # claim's lease may take its row over (tests/faults: countdown longer than the timeout).
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    redelivered = redelivered and task.request.eta is None
    # A retried message's first run wrote its row, so a missing row means it was purged.
    outcome = service.deliver(event, redelivered=redelivered, retried=task.request.retries > 0)
    if outcome.woke:
        _signal(backlog.kick, task.app)  # the rows an outage held are due: a drain takes them
    return _shown(outcome.status, event.event_id)


def _task_of(kind: type[Event]) -> EventTask:
    """``send_<kind>(*arguments, app_name=None, event_id=None)``, as the kind declares them."""

    def run(self: EventTask, *args: Any, **kwargs: Any) -> str:
        return _run(self, kind, args, kwargs)

    run.__name__ = run.__qualname__ = f"send_{kind.kind}"
    run.__doc__ = kind.__doc__
    options = {"name": kind.task_name(), "max_retries": None, "kind_class": kind}
    return shared_task(bind=True, base=EventTask, throws=(DeliveryFailed,), **options)(run)


# One task per registered kind, each importable as ``pushworker.tasks.send_<kind>``.
TASKS: dict[str, EventTask] = {}
for _kind in registry.kinds().values():
    TASKS[_kind.kind] = globals()[f"send_{_kind.kind}"] = _task_of(_kind)
send_goods_visit = TASKS["goods_visit"]  # named here too, for readers and type checkers


def _republish(rows: list[Delivery]) -> None:
    """Hand rows to the broker again, under their event ids, each to its kind's task."""
    if not rows:
        return
    known = [d for d in rows if d.kind in TASKS]
    for delivery in known:
        TASKS[delivery.kind].apply_async(
            kwargs=outbox.event_of(delivery).as_kwargs(), task_id=str(delivery.event_id)
        )
    outbox.mark_published(known)
    if len(known) < len(rows):  # a kind this version lacks: left for a version that has it
        unknown = sorted({d.kind for d in rows} - set(TASKS))
        log.error("deliveries of unknown kinds not republished", extra={"kinds": unknown})


def _signal(call: Any, app: Any) -> None:
    """Kick or settle; a broker error must not strand the claimed batch in ``sending`` (the task
    would end acknowledged). A lost kick is the relay's to repeat; a flag left set expires."""
    try:
        call(app)
    except Exception as error:  # noqa: BLE001 - the batch is sent whatever the flag says
        problem = f"{type(error).__name__}: {error}"
        log.warning("backlog flag not updated", extra={"problem": problem})


@shared_task(bind=True, name=DRAIN)
def drain(self: Any) -> str:
    """Deliver a batch of due rows: a backlog's, and retries whose time has come (``service``).

    While whole batches are found, another drain is asked for before this one sends, so every
    pool child drains; the drain that finds less says the backlog is over (producers publish per
    event again), then looks once more for rows that arrived meanwhile.
    """
    settings = conf.get()
    try:
        claimed = service.claim(self.request.id, settings)
        if claimed.alone:  # a dead drain's batch: each event runs alone, as its own message
            _republish(claimed.alone)
        elif len(claimed.rows) >= settings.batch_size:
            _signal(backlog.kick, self.app)
        else:
            _signal(backlog.settle, self.app)
            service.claim_rest(self.request.id, claimed, settings)
            if len(claimed.rows) >= settings.batch_size:  # more came than the last look took
                _signal(backlog.kick, self.app)
        report = service.drain(claimed, settings)
    except Exception as error:
        # Neither one event's error nor a dropped database connection (mid-claim too) may hold
        # the batch in sending until the sweeper: the events still held run alone, as after a
        # crash, or are due again as rows when the database failed (an open request makes the
        # repeat flagged).
        _republish(service.hand_back(self.request.id, error))
        raise
    if report.woke:
        _signal(backlog.kick, self.app)  # the rows an outage held are due: a drain takes them
    if claimed.rows:
        log.info("drained a batch", extra={"count": len(claimed.rows), "summary": report.summary()})
    return report.summary()


# Maintenance sends no task events: Flower lists deliveries, not a relay run every 2 s.
@shared_task(name="pushworker.relay_outbox", ignore_result=True, send_events=False)
def relay_outbox() -> int:
    """Hand on due rows no message carries: retries whose time has come, and rows the broker did
    not take (it was down when they were enqueued, a backlog's drain was lost, an operator
    requeued them) once they are older than one interval (younger ones are the drain's the web
    path asked for). A few get a message each, as the web path gives while the queue is short; more
    are left to a drain."""
    settings = conf.get()
    threshold = settings.backlog_threshold
    pending = outbox.waiting(max(threshold, 1), older_than=settings.relay_interval_seconds)
    if threshold and len(pending) < threshold:
        _republish(pending)
    elif pending:
        backlog.kick(drain.app)
    if pending:
        log.info("relayed outbox", extra={"count": len(pending)})
    return len(pending)


@shared_task(name="pushworker.sweep_stuck", ignore_result=True, send_events=False)
def sweep_stuck() -> int:
    """Publish again deliveries whose broker message is probably lost (see ``outbox.stuck``)."""
    settings = conf.get()
    found = outbox.stuck(
        stale_after=settings.stale_after_seconds,
        lease=settings.claim_lease_seconds,
        limit=SWEEP_LIMIT,
    )
    _republish(found)
    if found:
        log.warning(
            "re-enqueued stuck deliveries",
            extra={"count": len(found), "statuses": sorted({d.status for d in found})},
        )
    return len(found)


@shared_task(
    name="pushworker.purge_expired",
    ignore_result=True,
    acks_late=False,
    time_limit=PURGE_SECONDS + 60,
)
def purge_expired() -> int:
    """Delete what is past retention, in bounded batches, for at most ``PURGE_SECONDS``.

    Acknowledged on receipt: a purge cut short loses nothing; the next run resumes at the oldest.
    """
    report = purge.purge(max_seconds=PURGE_SECONDS)
    log.info("purged", extra={"summary": report.summary()})
    return report.deliveries


@shared_task(
    bind=True, name="pushworker.send_daily_summaries", ignore_result=True, send_events=False
)
def send_daily_summaries(self: Any) -> int:
    """Make the daily summaries due by now (``delivery.summaries``) and ask a drain to send them.

    Beat runs it every ``SUMMARY_INTERVAL``; its budget is half a task's lease, and when more are
    due than it could make, it asks for itself again at once."""
    settings = conf.get()
    # Each chunk's summaries are rows a drain sends (a lost kick is the relay's to repeat).
    report = summaries.run(
        settings,
        budget=settings.claim_lease_seconds / 2,
        made=lambda _: _signal(backlog.kick, self.app),
    )
    if report.more:
        self.apply_async()
    return report.created
