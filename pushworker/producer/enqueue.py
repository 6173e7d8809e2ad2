"""The web side of every ``send_<kind>``: keep the event, hand it to Redis without waiting for it.

With the outbox on (the default), a call asks the broker's Redis whether the event joins the
backlog (``pushworker.producer.backlog``: one round trip, bounded by the enqueue budget), writes its
row in one statement (``store.deliveries.insert``), and returns once the row is committed: from
then on the event is safe, so its publish runs on a publisher thread
(``pushworker.producer.publisher``) and the caller does not wait for it. The row is written saying
its message is on the way (``published_at`` set); if the publish fails, or has not succeeded
within the enqueue budget, the publisher thread clears ``published_at`` and the relay publishes
the row within ``RELAY_INTERVAL``. If the process dies before the publish, the sweeper
republishes the row after ``STALE_AFTER``. Under a backlog the row is written unpublished for a
drain run, and one drain is kicked if none is under way.

The caller waits for Redis only where it must: the backlog question, a ``delay()`` inside the
caller's own transaction (its row is not committed yet, so the caller waits for the publish, as
Celery's own ``delay()`` does), the ``on-failure`` mode (no row unless the publish fails) and a
failed outbox write. Each wait ends at ``PUSHWORKER_ENQUEUE_BUDGET_MS``. After a failure a circuit
breaker sends the following calls straight to the outbox for a cool-down period, so an outage
costs one budget, not one per call.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any

from django.db import DatabaseError, connections, transaction

from pushworker import conf
from pushworker.broker import connection as brokerredis
from pushworker.events import InvalidEventError
from pushworker.events.base import Event, Priority
from pushworker.ops import logs, metrics
from pushworker.producer import backlog
from pushworker.producer.publisher import Publisher
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


def send(task: Any, event: Event, headers: dict[str, str]) -> None:
    """Celery's own publish of the event's message (``apply_async`` builds it): under the event
    id, with the caller's correlation id in ``headers``, without Celery's own retries (the outbox
    is the retry). Runs on a publisher thread."""
    task.apply_async(kwargs=event.as_kwargs(), task_id=event.event_id, retry=False, headers=headers)


def _sent(task: Any, event: Event, headers: dict[str, str]) -> None:
    # A background publish: the caller is gone, so the breaker and the count are settled here.
    send(task, event, headers)
    breaker.close()
    metrics.enqueued(event.app_name, "broker")


def _publish_failed(events: list[Event], error: BaseException) -> None:
    """The publisher's ``failed``: these rows say a message carries them, and none does.

    Runs on a publisher thread, never the caller's, so the row is written through that thread's
    own database connection, closed here: a long-lived thread must not hold one open."""
    _broker_failed(events[0], _problem(error))  # one line for the events given up together
    ids = [event.event_id for event in events]
    try:
        outbox.mark_unpublished(ids)
    except DatabaseError as error:
        log.error(
            "rows not handed to the relay; the sweeper republishes them after STALE_AFTER",
            extra={"delivery_id": ids[0], "count": len(ids), "problem": str(error)},
        )
        return
    finally:
        connections.close_all()
    for event in events:
        metrics.enqueued(event.app_name, "broker_failed")
        _relayed(event)


_publisher = Publisher(_publish_failed)


def flush(timeout: float) -> bool:
    """Wait until every publish this process handed off is published or handed to the relay;
    False if ``timeout`` seconds passed first. A process that exits does it by itself."""
    return _publisher.idle(timeout)


def _publish_later(task: Any, event: Event) -> bool:
    """Hand the event's publish to the publisher thread; False when it holds too many (another
    thread of this process took the last room since the route was decided)."""
    headers = logs.task_headers(event.event_id)  # the caller's correlation id, read on its thread
    budget = conf.get().enqueue_budget_seconds
    if _publisher.submit(partial(_sent, task, event, headers), budget, key=event) is None:
        metrics.enqueued(event.app_name, "broker_failed")
        return False
    return True


def publish(task: Any, event: Event, budget: float | None = None) -> bool:
    """Give the event to the broker and wait for it, at most ``budget`` seconds (default: the
    enqueue budget); False if breaker, error or clock said no."""
    if not breaker.allows():
        return metrics.enqueued(event.app_name, "breaker_open")
    budget = conf.get().enqueue_budget_seconds if budget is None else max(budget, 0.0)
    future = _publisher.submit(
        partial(send, task, event, logs.task_headers(event.event_id)), budget
    )
    problem = f"{_publisher.limit} publishes in flight" if future is None else _wait(future, budget)
    if problem is None:
        breaker.close()
        return metrics.enqueued(event.app_name, "broker")
    _broker_failed(event, problem)
    return metrics.enqueued(event.app_name, "broker_failed")


def _wait(future: Future, budget: float) -> str | None:
    """Wait for a broker call within the budget; None when it succeeded, else what went wrong."""
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
SKIPPED = "skipped"  # the breaker is open (or the publisher full): the relay publishes the row
FAILED = "failed"  # Redis did not answer: the relay publishes the row


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
    urgent = event.policy.priority == Priority.URGENT
    app = getattr(task, "app", None)
    client = backlog.client(app) if app is not None else None
    if not _publisher.room():
        # This process enqueues faster than Redis takes its publishes (Redis answers, or the
        # watchdog would have tripped the breaker): its bulk rows join the backlog, and an
        # urgent row waits for the relay, which publishes urgent rows first.
        if client is not None and not urgent:
            return BACKLOG, client
        metrics.enqueued(event.app_name, "broker_failed")
        return SKIPPED, None
    if urgent:
        return MESSAGE, None  # never a backlog row behind bulk ones: its own message, its queue
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
    """The row is written unpublished: set the flag, and kick one drain if this call set it.

    With no room on the publisher thread (Redis is slow, not down), no kick: the flag stays
    unset and the relay kicks a drain within its interval."""
    if not _publisher.room():
        metrics.enqueued(event.app_name, "backlog")
        return
    try:
        kicks = backlog.claim_kick(client)
    except Exception as error:  # noqa: BLE001 - the row stays for the relay, which kicks a drain
        _broker_failed(event, _problem(error))
        metrics.enqueued(event.app_name, "broker_failed")
        return
    if kicks:
        kick = _publisher.submit(partial(backlog.send_drain, task.app), budget)
        problem = "publishes in flight" if kick is None else _wait(kick, budget)
        if problem:
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
    # A row that is the event's only copy is always durable; one whose message follows may be
    # committed asynchronously (ENQUEUE_COMMIT, docs/guarantees.md).
    durable = route != MESSAGE or conf.get().enqueue_commit == "durable"
    writing = time.monotonic()
    try:
        created = deliveries.insert(event, app_name, published=route == MESSAGE, durable=durable)
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
    if route == MESSAGE:
        if deliveries.in_transaction():  # not committed yet: only a publish now keeps the event
            published = publish(task, event, _left(started))
        else:
            published = _publish_later(task, event)
        if not published:
            outbox.mark_unpublished([event.event_id])
            _relayed(event)
    elif route == BACKLOG:
        _join(task, event, client, _left(started))
    elif route == FAILED:
        _relayed(event)
    return event.event_id


def _after_commit(task: Any, event: Event) -> None:
    # The row committed saying its message follows: the message, or the row goes to a drain or
    # the relay after all.
    started = time.monotonic()
    route, client = _route(task, event)
    if route == MESSAGE and _publish_later(task, event):
        return
    outbox.mark_unpublished([event.event_id])  # before a drain is kicked: it claims such rows
    if route == BACKLOG:
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
    with the caller's own data, and the relay publishes it if the post-commit publish fails.
    """
    app_name = _app_name(event)
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return enqueue(task, event)
    keep_in_transaction = conf.get().enqueue_outbox == "always"
    # The row says its message follows the commit (published_at set), so the usual commit costs
    # no second write; with the breaker open it is written unpublished, for the relay.
    follows = breaker.allows()
    created = False
    if keep_in_transaction:
        try:
            # A savepoint: a failed insert must not break the caller's transaction.
            with transaction.atomic(using=using):
                created = deliveries.insert(event, app_name, published=follows)
        except DatabaseError as error:
            log.error(
                "outbox write failed; publishing after commit without a durable copy",
                extra={"delivery_id": event.event_id, "problem": str(error)},
            )
            keep_in_transaction = False

    def after_commit() -> None:
        try:
            if not keep_in_transaction:
                enqueue(task, event)
            elif created and follows:  # an event kept already is not published twice
                _after_commit(task, event)
            elif created:
                _relayed(event)
        except Exception:  # noqa: BLE001 - the caller's data is committed; an error here must not 500
            log.exception(
                "event not enqueued after commit",
                extra={"delivery_id": event.event_id, "event": event.as_kwargs()},
            )
            if keep_in_transaction and created and follows:
                _unpublish_quietly(event)

    transaction.on_commit(after_commit, using=using)
    return event.event_id


def _unpublish_quietly(event: Event) -> None:
    # After an unexpected error the row may still say a message follows: the relay's, then.
    try:
        outbox.mark_unpublished([event.event_id])
    except DatabaseError:
        log.exception("row not handed to the relay", extra={"delivery_id": event.event_id})
