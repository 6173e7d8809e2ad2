"""The worker's saturation, read when Prometheus scrapes: queue depth and busy pool slots.

``pushworker_queue_depth{queue}``: messages waiting in each of pushworker's queues (the queues its
routes name, ``queues.ROUTES``: a closed list), one LLEN each on the broker's Redis. Every worker
reports the same numbers, so rules take ``max by (queue)``. ``pushworker_pool_busy`` and
``pushworker_pool_slots``: this worker's pool processes running a task now, and how many it has.
A Redis that does not answer within a second leaves the depth out of that scrape: the scrape
itself still answers, and ``absent()`` or the depth rule's ``for`` says the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from celery.worker import state as worker_state
from prometheus_client.core import GaugeMetricFamily

from pushworker.broker import connection
from pushworker.broker.queues import ROUTES

log = logging.getLogger("pushworker.metrics")
QUEUES = tuple(sorted({route["queue"] for route in ROUTES.values()}))
SCRAPE_TIMEOUT = 1.0  # s: a scrape waits this long for Redis at most


class SaturationCollector:
    """Collects at scrape time, in the worker's main process (where Celery tracks its requests)."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self._client: redis.Redis | None = None

    def _depths(self) -> list[int] | None:
        if self._client is None:
            self._client = connection.for_app(self.worker.app, SCRAPE_TIMEOUT)
        if self._client is None:  # not a Redis broker: no depth to read
            return None
        pipe = self._client.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(queue)
        try:
            return [int(n) for n in pipe.execute()]
        except (redis.RedisError, OSError) as error:
            log.debug("queue depth not read", extra={"problem": type(error).__name__})
            return None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "pushworker_queue_depth",
            "Messages waiting in each of pushworker's broker queues, read at scrape time",
            labels=["queue"],
        )
        for queue, count in zip(QUEUES, self._depths() or (), strict=False):
            depth.add_metric([queue], count)
        yield depth
        yield GaugeMetricFamily(
            "pushworker_pool_busy",
            "This worker's pool processes running a task now",
            value=len(worker_state.active_requests),
        )
        yield GaugeMetricFamily(
            "pushworker_pool_slots",
            "This worker's pool processes (its concurrency)",
            value=self.worker.concurrency or 0,
        )
