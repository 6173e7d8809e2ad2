"""The web side of every ``send_<kind>``: hand the event to Redis within a budget, else keep it.

The caller never waits longer than ``PUSHWORKER_ENQUEUE_BUDGET_MS``: the publish runs on a small
pool of daemon threads and the caller stops waiting at the deadline. The event is kept in the
Delivery table (the outbox) first, so the relay can publish whatever Redis did not take. After a
failure a circuit breaker sends the following calls straight to the outbox for a cool-down period,
so an outage costs one budget, not one per call.

With the outbox on, each call first asks the broker's Redis whether the event joins the backlog
(``pushworker.producer.backlog``: one round trip, bounded by the budget), then writes its row in one
statement (``store.deliveries.insert``), then publishes its own message, or, under a backlog,
leaves the row unpublished for a drain run and kicks one drain if none is under way.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.db import DatabaseError, transaction

from pushworker import conf
from pushworker.broker import connection as brokerredis
from pushworker.events import InvalidEventError
from pushworker.events.base import Event, Priority
from pushworker.ops import logs, metrics
from pushworker.producer import backlog
from pushworker.store import deliveries, outbox

log = logging.getLogger("pushworker.enqueue")


class EnqueueError(RuntimeError):
    """Neither the broker nor the database took the event; the caller must know it was not kept."""


class Breaker:
    """Opens after a failed publish; while open, callers skip the broker and use the outbox."""

    def __init__(self) -> None:
        self._open_until = 0.0

    def allows(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self, cooldown: float) -> None:
        self._open_until = time.monotonic() + cooldown

    def close(self) -> None:
        self._open_until = 0.0


breaker = Breaker()


class _Publisher:
    """Daemon threads that publish; a thread stuck on a hung Redis never holds up process exit."""

    size = 4

    def __init__(self) -> None:
        self._pid: int | None = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._pid != os.getpid():  # threads do not survive fork: start them in this process
                self._jobs = queue.SimpleQueue()
                for n in range(self.size):
                    threading.Thread(
                        target=self._run,
                        args=(self._jobs,),
                        daemon=True,
                        name=f"pushworker-publish-{n}",
                    ).start()
                self._pid = os.getpid()
        future: Future = Future()
        self._jobs.put((future, fn, args, kwargs))
        return future

    @staticmethod
    def _run(jobs: queue.SimpleQueue) -> None:
        while True:
            future, fn, args, kwargs = jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
                future.set_exception(error)


_publisher = _Publisher()


def publish(task: Any, event: Event, budget: float | None = None) -> bool:
    """Give the event to the broker within ``budget`` seconds (default: the enqueue budget);
    False if breaker, error or clock said no."""
    if not breaker.allows():
        return metrics.enqueued(event.app_name, "breaker_open")
    future = _publisher.submit(
        task.apply_async,
        kwargs=event.as_kwargs(),
        task_id=event.event_id,
        retry=False,
        headers=logs.task_headers(event.event_id),  # the correlation id, to the worker's lines
    )
    problem = _wait(future, budget)
    if problem is None:
        breaker.close()
        return metrics.enqueued(event.app_name, "broker")
    _broker_failed(event, problem)
    return metrics.enqueued(event.app_name, "broker_failed")


def _wait(future: Future, budget: float | None) -> str | None:
    """Wait for a broker call within the budget; None when it succeeded, else what went wrong."""
    budget = conf.get().enqueue_budget_seconds if budget is None else max(budget, 0.0)
    try:
        future.result(timeout=budget)
    except FutureTimeout:
        future.cancel()
        return f"no answer within {budget * 1000:.0f} ms"
    except Exception as error:  # noqa: BLE001 - any broker failure means "use the outbox"
        return _problem(error)
    return None


class _Problem(str):
    """What a broker call's failure says; ``unavailable`` unless the broker was reached."""

    unavailable = True


def _problem(error: BaseException) -> str:
    """The exception's class and message; "broker unavailable" only if it could not reach Redis
    (any other error, Celery refusing the task's options say, is a "publish failed")."""
    problem = _Problem(f"{type(error).__name__}: {error}")
    problem.unavailable = brokerredis.unreachable(error)
    return problem


def _broker_failed(event: Event, problem: str) -> None:
    breaker.trip(conf.get().breaker_cooldown_seconds)
    said = "broker unavailable" if getattr(problem, "unavailable", True) else "publish failed"
    log.warning(said, extra={"delivery_id": event.event_id, "problem": problem})


# How an outbox enqueue goes, decided before its row is written (the row's published_at says it):
MESSAGE = "message"  # its own broker message, as stock Celery (the queue is short)
BACKLOG = "backlog"  # no message: the row waits for a drain run (pushworker.producer.backlog)
SKIPPED = "skipped"  # the breaker is open: the relay publishes the row
FAILED = "failed"  # Redis did not answer the backlog question: the relay publishes the row


# A "the queue is short" answer is trusted this long (seconds) in a process: it saves the one
# round trip of most calls. A "join the backlog" answer is asked again every time, so the end of
# a backlog (its last run deletes the flag) is seen at once, and no row waits for the relay.
SHORT_FOR = 0.05
_short_until = 0.0


def _route(task: Any, event: Event) -> tuple[str, Any]:
    """Message, backlog, skipped or failed, and the broker's Redis client that answered."""
    if not breaker.allows():
        metrics.enqueued(event.app_name, "breaker_open")
        return SKIPPED, None
    if event.policy.priority == Priority.URGENT:
        return MESSAGE, None  # never a backlog row behind bulk ones: its own message, its queue
    app = getattr(task, "app", None)
    client = backlog.client(app) if app is not None else None
    if client is None:  # no Redis to ask (tests, a broker that is not Redis): as stock Celery
        return MESSAGE, None
    global _short_until
    threshold = conf.get().backlog_threshold
    if threshold and time.monotonic() < _short_until:
        return MESSAGE, client  # the queue was short a moment ago: at worst a few more messages
    try:
        joined = backlog.join_backlog(client, threshold)
    except Exception as error:  # noqa: BLE001 - any Redis failure means "use the outbox"
        _broker_failed(event, _problem(error))
        metrics.enqueued(event.app_name, "broker_failed")
        return FAILED, None
    if not joined:
        _short_until = time.monotonic() + SHORT_FOR
    return (BACKLOG if joined else MESSAGE), client


def _join(task: Any, event: Event, client: Any, budget: float) -> None:
    """The row is written unpublished: set the flag, and kick one drain if this call set it."""
    try:
        kicks = backlog.claim_kick(client)
    except Exception as error:  # noqa: BLE001 - the row stays for the relay, which kicks a drain
        _broker_failed(event, _problem(error))
        metrics.enqueued(event.app_name, "broker_failed")
        return
    if kicks and (problem := _wait(_publisher.submit(backlog.send_drain, task.app), budget)):
        _broker_failed(event, problem)  # the relay kicks again within its interval
    metrics.enqueued(event.app_name, "backlog")


def _left(started: float) -> float:
    return conf.get().enqueue_budget_seconds - (time.monotonic() - started)


def _app_name(event: Event) -> str:
    try:
        return conf.get().app(event.app_name).name
    except KeyError as error:
        raise InvalidEventError("app_name", str(error.args[0]), f"send_{event.kind}") from None


def enqueue(task: Any, event: Event) -> str:
    """Enqueue now (outside or inside a transaction); returns the event id.

    Raises :class:`InvalidEventError` for an unknown app and :class:`EnqueueError` only when neither
    the broker nor the database could keep the event.
    """
    app_name = _app_name(event)
    if conf.get().enqueue_outbox == "on-failure":
        if not publish(task, event):
            _keep_or_raise(event, app_name)
            _relayed(event)
        return event.event_id
    started = time.monotonic()
    route, client = _route(task, event)  # decided once: the row must say what this call will do
    writing = time.monotonic()
    try:
        created = deliveries.insert(event, app_name, published=route == MESSAGE)
    except DatabaseError as error:
        started += time.monotonic() - writing  # the budget bounds waits on Redis, not the database
        log.error(
            "outbox write failed; publishing without a durable copy",
            extra={"delivery_id": event.event_id, "problem": str(error)},
        )
        if publish(task, event, _left(started)):
            return event.event_id
        raise EnqueueError(f"event {event.event_id} was neither published nor stored") from error
    if not created:
        return event.event_id
    started += time.monotonic() - writing
    if route == MESSAGE and not publish(task, event, _left(started)):
        outbox.mark_unpublished(event.event_id)
        _relayed(event)
    elif route == BACKLOG:
        _join(task, event, client, _left(started))
    elif route == FAILED:
        _relayed(event)
    return event.event_id


def _after_commit(task: Any, event: Event) -> None:
    # The row committed unpublished: its own message as now, or it joins the backlog.
    started = time.monotonic()
    route, client = _route(task, event)
    if route == MESSAGE and publish(task, event, _left(started)):
        outbox.mark_event_published(event.event_id)
    elif route == BACKLOG:
        _join(task, event, client, _left(started))
    else:
        _relayed(event)


def _relayed(event: Event) -> None:
    # Said only where a row was kept: on the other paths the relay has nothing to publish.
    log.warning(
        "the relay publishes the event from the outbox", extra={"delivery_id": event.event_id}
    )


def _keep_or_raise(event: Event, app_name: str) -> None:
    try:
        deliveries.insert(event, app_name, published=False)
    except DatabaseError as error:
        raise EnqueueError(f"event {event.event_id} was neither published nor stored") from error


def enqueue_on_commit(task: Any, event: Event, using: str | None = None) -> str:
    """Enqueue when the surrounding transaction commits; never raises into the committing code.

    With the outbox on, the row is written inside the transaction, so it commits or rolls back
    with the caller's own data and the relay publishes it if the post-commit publish fails.
    """
    app_name = _app_name(event)
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return enqueue(task, event)
    keep_in_transaction = conf.get().enqueue_outbox == "always"
    if keep_in_transaction:
        try:
            # A savepoint: a failed insert must not break the caller's transaction.
            with transaction.atomic(using=using):
                deliveries.insert(event, app_name, published=False)
        except DatabaseError as error:
            log.error(
                "outbox write failed; publishing after commit without a durable copy",
                extra={"delivery_id": event.event_id, "problem": str(error)},
            )
            keep_in_transaction = False

    def after_commit() -> None:
        try:
            if keep_in_transaction:
                _after_commit(task, event)
            else:
                enqueue(task, event)
        except Exception:  # noqa: BLE001 - the caller's data is committed; an error here must not 500
            log.exception(
                "event not enqueued after commit",
                extra={"delivery_id": event.event_id, "event": event.as_kwargs()},
            )

    transaction.on_commit(after_commit, using=using)
    return event.event_id
