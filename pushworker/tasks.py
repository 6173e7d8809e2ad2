"""Thin Celery tasks: explicit names, ids and names in, retry decision out; the service decides."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task, signals
from celery.contrib.django.task import DjangoTask
from celery.result import AsyncResult
from django.db import close_old_connections

from pushworker import conf, enqueue, logs, metrics, outbox, records, service
from pushworker.events import GoodsVisit, InvalidEventError
from pushworker.models import Delivery, DeliveryStatus

log = logging.getLogger("pushworker.tasks")
BATCH = 500


@signals.task_prerun.connect
def _usable_database_connections(sender: Any = None, **_: Any) -> None:
    """Reuse connections across tasks, but never one that is too old or died (a DB restart)."""
    if getattr(sender, "name", "").startswith("pushworker."):
        close_old_connections()


signals.worker_init.connect(metrics.start_worker_server)  # /metrics on METRICS_PORT
signals.worker_process_shutdown.connect(metrics.child_exited)
signals.task_prerun.connect(logs.task_started)  # the enqueuer's correlation id on every line
signals.task_postrun.connect(logs.task_ended)
logs.quiet_maintenance(("pushworker.relay_outbox", "pushworker.sweep_stuck"))


class DeliveryFailed(Exception):
    """Raised after a delivery was recorded ``failed`` or ``dead``: Flower shows the task FAILURE.

    Listed in the task's ``throws``: Celery neither retries it nor logs a traceback for it.
    """


def _shown(status: str, event_id: Any) -> str:
    if status in (DeliveryStatus.FAILED, DeliveryStatus.DEAD):
        raise DeliveryFailed(f"{status}: delivery {event_id} (see its row for Xiaomi's answer)")
    return status


class GoodsVisitTask(DjangoTask):
    """``delay`` and ``delay_on_commit`` check the arguments, then keep the web process waiting at
    most the enqueue budget (``PUSHWORKER_ENQUEUE_BUDGET_MS``); bad arguments raise
    :class:`InvalidEventError` naming the argument.

    ``apply_async`` stays Celery's own: the worker's retries, the relay and the sweeper use it.
    """

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        event = GoodsVisit.from_call(*args, **kwargs)
        return self.AsyncResult(enqueue.enqueue(self, event))

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> str:
        """Enqueue once the caller's transaction commits; returns the event id at once."""
        using = kwargs.pop("using", None)
        return enqueue.enqueue_on_commit(self, GoodsVisit.from_call(*args, **kwargs), using=using)


@shared_task(
    bind=True,
    base=GoodsVisitTask,
    name="pushworker.send_goods_visit",
    max_retries=None,
    throws=(DeliveryFailed,),
)
def send_goods_visit(
    self: GoodsVisitTask,
    owner_id: Any = None,
    visitor_id: Any = None,
    goods_id: Any = None,
    goods_name: Any = None,
    visitor_name: Any = None,
    app_name: Any = None,
    event_id: Any = None,
    **unknown: Any,
) -> str:
    """Tell ``owner_id``'s phones that ``visitor_id`` just viewed their goods ``goods_name``.

    ``unknown``: a message from another producer version may carry arguments this one does not
    know; it is recorded as rejected instead of failing before the task runs, with no row.
    """
    try:
        event = GoodsVisit.from_call(
            owner_id,
            visitor_id,
            goods_id,
            goods_name,
            visitor_name,
            app_name,
            event_id or self.request.id,
            **unknown,
        )
    except InvalidEventError as error:
        # A message written by hand or by an old producer: record it, never crash-loop on it.
        raw = {
            "owner_id": owner_id,
            "visitor_id": visitor_id,
            "goods_id": goods_id,
            "goods_name": goods_name,
            "visitor_name": visitor_name,
            "app_name": app_name,
        }
        records.reject(event_id or self.request.id, raw, str(error))
        return _shown(DeliveryStatus.FAILED, event_id or self.request.id)
    # Redis marks every restored message redelivered, also one restored only because a live worker
    # held it past the visibility timeout waiting for its ETA: that copy runs beside the original.
    # So for a message with an ETA, redelivery is no sign that an earlier run died, and only the
    # claim's lease may take its row over (tests/faults: countdown longer than the timeout).
    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    redelivered = redelivered and self.request.eta is None
    outcome = service.deliver(event, redelivered=redelivered)
    if outcome.retry:
        log.info("retrying", extra={"delivery_id": event.event_id, "countdown": outcome.countdown})
        raise self.retry(countdown=outcome.countdown, max_retries=None)
    return _shown(outcome.status, event.event_id)


def _republish(deliveries: list[Delivery]) -> None:
    """Hand deliveries to the broker again, under their event ids, and note the hand-over."""
    for delivery in deliveries:
        send_goods_visit.apply_async(
            kwargs=outbox.event_of(delivery).as_kwargs(), task_id=str(delivery.event_id)
        )
    outbox.mark_published(deliveries)


# Maintenance sends no task events: Flower lists deliveries, not a relay run every 2 s.
@shared_task(name="pushworker.relay_outbox", ignore_result=True, send_events=False)
def relay_outbox() -> int:
    """Publish deliveries the broker never took (it was down when they were enqueued)."""
    pending = outbox.unpublished(BATCH)
    _republish(pending)
    if pending:
        log.info("relayed outbox", extra={"count": len(pending)})
    return len(pending)


@shared_task(name="pushworker.sweep_stuck", ignore_result=True, send_events=False)
def sweep_stuck() -> int:
    """Publish again deliveries whose broker message is probably lost (see ``outbox.stuck``)."""
    settings = conf.get()
    found = outbox.stuck(
        stale_after=settings.stale_after_seconds, lease=settings.claim_lease_seconds, limit=BATCH
    )
    _republish(found)
    if found:
        log.warning(
            "re-enqueued stuck deliveries",
            extra={"count": len(found), "statuses": sorted({d.status for d in found})},
        )
    return len(found)
