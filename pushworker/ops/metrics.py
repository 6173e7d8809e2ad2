"""Prometheus metrics: every metric pushworker exports, the one-line hooks, and /metrics servers.

The worker and ``pushworker web`` fork children, so both run prometheus-client's multiprocess
mode: each process writes its samples to files in a directory under ``PUSHWORKER_HOME`` that is
wiped when the parent starts, and the parent's /metrics adds them up. A child's exit is marked
(``mark_process_dead``). Every metric has labels, so no sample is created before the mode is
switched on at start-up (an unlabelled metric creates its one value when it is declared).

Label values come only from configuration or closed lists, never from the wire: an app name is one
of the configured apps or ``unknown`` (:func:`app_label`, the one place that maps it), a Xiaomi
code one of the code table's or ``unknown``, an HTTP method one of seven or ``other``. A message
written by hand with a new ``app_name`` each time cannot grow a series per message.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

DELIVERIES = Counter(
    "pushworker_deliveries", "Deliveries that reached an end state", ["app", "status"]
)
XIAOMI_REQUESTS = Counter(
    "pushworker_xiaomi_requests",
    "Requests to Xiaomi by answer code (0: accepted; a word when Xiaomi gave no code)",
    ["app", "platform", "environment", "code"],
)
XIAOMI_SECONDS = Histogram(
    "pushworker_xiaomi_request_seconds", "Time of one request to Xiaomi", ["app", "platform"]
)
XIAOMI_EVENTS = Histogram(
    "pushworker_xiaomi_request_events",
    "Events one request to Xiaomi carried (a batch run's multi_messages request carries many)",
    ["app", "platform"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
ENQUEUE_TO_SENT = Histogram(
    "pushworker_enqueue_to_sent_seconds",
    "From the delivery row's creation to its sent/partial end",
    ["app"],
    buckets=SECONDS,
)
RETRIES = Counter("pushworker_retries", "Broker retries scheduled (budget spent)", ["app"])
SUPPRESSED = Counter("pushworker_suppressed", "Deliveries suppressed on purpose", ["reason"])
DEAD_LETTERS = Counter(
    "pushworker_dead_letters", "Messages stored as dead letters (kind: task or raw entry)", ["kind"]
)
# The web side (pushworker web, or any process calling delay()).
ENQUEUED = Counter(
    "pushworker_enqueued",
    "Publishes by delay(): broker, backlog (a drain run sends it), or broker_failed/breaker_open "
    "(the outbox relays those)",
    ["app", "path"],
)
API_REQUESTS = Counter(
    "pushworker_api_requests", "Device API requests by answer", ["method", "status"]
)

_SLUG = re.compile(r"[^a-z0-9]+")
# Suppressions by a recipient's preferences are labelled by their recorded category, a stable name.
PREFERENCE_REASONS = ("preference_off", "summary_pending", "recipient_quiet_hours")
UNKNOWN = "unknown"


def app_label(name: Any) -> str:
    """``name`` when it is a configured app (the default app for None), else ``unknown``."""
    from pushworker import conf

    try:
        settings = conf.get()
    except conf.SettingsError:
        return UNKNOWN
    name = name or settings.default_app
    return name if isinstance(name, str) and name in settings.apps else UNKNOWN


def code_label(code: Any) -> str:
    """A Xiaomi code of the table (0: accepted), a failure category or condition, or unknown."""
    from pushworker.mipush import codes

    if isinstance(code, int) and not isinstance(code, bool):
        return str(code) if code == 0 or codes.is_known_code(code) else UNKNOWN
    words = {str(c) for c in (*codes.Category, *codes.Condition)}
    return str(code) if str(code) in words else UNKNOWN


def _seconds_since(moment: Any) -> float:
    from django.utils import timezone

    return max(0.0, (timezone.now() - moment).total_seconds()) if moment else 0.0


# Hooks: one call at each place an outcome is decided (records, enqueue, the API).


def delivery_finished(delivery: Any, status: str, reason: str = "") -> None:
    app = app_label(delivery.app_name)
    DELIVERIES.labels(app, status).inc()
    if status == "suppressed":
        category = getattr(delivery, "error_category", "")
        if category in PREFERENCE_REASONS:
            SUPPRESSED.labels(category).inc()
        else:
            SUPPRESSED.labels(_SLUG.sub("_", reason.lower()).strip("_")[:40] or "other").inc()
    elif status in ("sent", "partial"):
        ENQUEUE_TO_SENT.labels(app).observe(_seconds_since(delivery.created_at))


def request_finished(request: Any, code: int | str | None, events: int = 1) -> None:
    """One request to Xiaomi answered (``request``: ``store.attempts.Request``), ``code`` 0 when
    it was accepted."""
    app = app_label(request.app_name)
    XIAOMI_REQUESTS.labels(app, request.platform, request.environment, code_label(code)).inc()
    XIAOMI_SECONDS.labels(app, request.platform).observe(_seconds_since(request.started_at))
    XIAOMI_EVENTS.labels(app, request.platform).observe(events)


def retry_scheduled(delivery: Any, spent: bool = True) -> None:
    if spent:  # a wait for the shared rate limit spends no budget
        RETRIES.labels(app_label(delivery.app_name)).inc()


def rejected(delivery: Any, created: bool) -> None:
    if created:  # a malformed copy of a recorded event changes nothing
        delivery_finished(delivery, "failed")


def dead_lettered(message: Any) -> None:
    # What came from the wire never becomes a label value: only whether it named a task.
    headers = getattr(message, "headers", None)
    named = isinstance(headers, dict) and bool(headers.get("task"))
    DEAD_LETTERS.labels("task" if named else "entry").inc()


def enqueued(app: str | None, path: str) -> bool:
    """Count one publish attempt of ``delay()``; True when the broker took the event."""
    ENQUEUED.labels(app_label(app), path).inc()
    return path == "broker"


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def api_answered(method: str, status: int) -> None:
    # Any client picks the method: an unknown one must not grow a series per word.
    API_REQUESTS.labels(method if method in _METHODS else "other", str(status)).inc()


# Servers.


class ScrapeTimeGauge:
    """A gauge read when Prometheus scrapes (``read`` asks the database), so an idle worker
    writes nothing; the layer that owns the state hands ``read`` in."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> Any:
        from django.db import connection

        gauge = GaugeMetricFamily(self.name, self.documentation)
        try:
            gauge.add_metric([], self.read())
        finally:
            connection.close()  # the server thread's own connection; never kept idle
        yield gauge


def directory(kind: str, port: int) -> Path:
    home = Path(os.environ.get("PUSHWORKER_HOME") or "var").resolve()
    return home / "metrics" / f"{kind}-{port}"


def multiprocess_mode(path: Path) -> None:
    """Wipe ``path`` and write every later sample of this process and its children there."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    values.ValueClass = values.MultiProcessValue()


def registry(path: Path, gauges: Sequence[ScrapeTimeGauge] = ()) -> CollectorRegistry:
    found = CollectorRegistry()
    MultiProcessCollector(found, path=str(path))
    for gauge in gauges:
        found.register(gauge)  # type: ignore[arg-type]
    return found


def start_worker_server(gauges: Sequence[ScrapeTimeGauge] = ()) -> None:
    """Serve the worker's /metrics on ``METRICS_PORT`` (nothing when it is 0), with ``gauges``."""
    from pushworker import conf

    port = conf.get().metrics_port
    if not port:
        return
    path = directory("worker", port)
    multiprocess_mode(path)
    start_http_server(port, registry=registry(path, gauges))


def child_exited(pid: int | None = None, **_: Any) -> None:
    """Celery's ``worker_process_shutdown`` / gunicorn's ``child_exit``."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        mark_process_dead(pid or os.getpid(), path)
