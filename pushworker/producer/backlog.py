"""The backlog flag on the broker's Redis: whether new events join the batch drain, and its kicks.

One broker message per event is what Flower shows and what the fault scenarios rely on, but Celery
on Redis moves about 1,100 messages a second per node, whatever the task does. So while the queue
is short every event gets its own message; once it holds ``backlog_threshold`` messages, or while
the flag ``pushworker:draining`` is set, new events get none: their outbox rows (``published_at``
NULL) are the queue, and ``pushworker.drain`` runs claim them in batches (docs/architecture.md,
"Batch runs").

The producer asks with :func:`join_backlog`, one round trip (GET the flag, LLEN the queue), then
writes its row, then :func:`claim_kick` (SET NX): the one producer that sets the flag publishes the
one drain message. Setting the flag only after the row is written closes the race with a drain
that settles the flag: either the flag is still set once the row exists, so that drain's last
claim (made after it deletes the flag) sees the row, or it is gone and this producer kicks.

The flag lives for the visibility timeout, so a flag whose drain died expires; the relay kicks a
drain whenever unpublished rows exist, which also covers a lost kick.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import redis

from pushworker import conf
from pushworker.broker import connection as brokerredis
from pushworker.broker.queues import QUEUE

FLAG = "pushworker:draining"
DRAIN_TASK = "pushworker.drain"  # defined in pushworker.tasks; its messages go to QUEUE


class _Off:
    """Stands for "no backlog": every event gets its own message (tests; brokers that are not
    Redis)."""

    def __repr__(self) -> str:
        return "backlog.OFF"


OFF = _Off()
_override: Any = None  # a client, or OFF, that replaces the app's broker (tests)


def use(client: redis.Redis | _Off | None) -> None:
    """Use ``client`` (or ``OFF``) instead of the Celery app's broker; ``None`` returns to it."""
    global _override
    _override = client


@lru_cache(maxsize=8)
def _client(pid: int, app: Any, timeout: float) -> redis.Redis | None:
    # Per process (the pid is in the key): a forked web worker must not share its parent's socket.
    return brokerredis.for_app(app, timeout)


def client(app: Any) -> redis.Redis | None:
    """The broker's Redis of Celery ``app`` (a task's ``.app``), or None for another broker.

    Connects and reads give up after half the enqueue budget each, so a producer's question costs
    at most about the budget even when Redis hangs (behind Sentinel, finding the master may take
    the sentinels' own timeouts once)."""
    if _override is not None:
        return None if _override is OFF else _override
    return _client(os.getpid(), app, conf.get().enqueue_budget_seconds / 2)


def _ttl_ms() -> int:
    return conf.get().visibility_timeout * 1000


def join_backlog(redis_client: redis.Redis, threshold: int) -> bool:
    """Whether a new event joins the backlog: the flag is set or ``QUEUE`` holds ``threshold``
    messages or more. One round trip; raises the client's error when Redis cannot answer.

    ``threshold`` 0 means every event joins, and then Redis is not asked at all."""
    if threshold <= 0:
        return True
    pipe = redis_client.pipeline(transaction=False)
    pipe.exists(FLAG)
    pipe.llen(QUEUE)
    flagged, queued = pipe.execute()
    return bool(flagged) or queued >= threshold


def claim_kick(redis_client: redis.Redis) -> bool:
    """Set the flag unless it is set; True for the one caller that set it (it kicks a drain)."""
    return bool(redis_client.set(FLAG, "1", nx=True, px=_ttl_ms()))


def send_drain(app: Any) -> None:
    """Publish one ``pushworker.drain`` message to pushworker's queue."""
    app.send_task(DRAIN_TASK, queue=QUEUE)


def kick(app: Any) -> bool:
    """Set the flag (for the visibility timeout) and publish one drain; False without a Redis
    broker. The relay and drain runs use it; raises the broker's error when Redis fails."""
    found = client(app)
    if found is None:
        return False
    found.set(FLAG, "1", px=_ttl_ms())
    send_drain(app)
    return True


def settle(app: Any) -> None:
    """Delete the flag: the backlog is drained, new events get their own message again."""
    found = client(app)
    if found is not None:
        found.delete(FLAG)
