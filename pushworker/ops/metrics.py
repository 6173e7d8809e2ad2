"""Prometheus metrics: every metric pushworker exports, the one-line hooks, and /metrics servers.

The worker and ``pushworker web`` fork children, so both run prometheus-client's multiprocess
mode: each process writes its samples to files in a directory under ``PUSHWORKER_HOME`` that is
wiped when the parent starts, and the parent's /metrics adds them up. A child's exit is marked
(``mark_process_dead``). Every metric has labels, so no sample is created before the mode is
switched on at start-up (an unlabelled metric creates its one value when it is declared).

Label values come only from configuration or closed lists, never from the wire: an app name is one
of the configured apps or ``unknown`` (:func:`app_label`, the one place that maps it), a Xiaomi
code one of the code table's or ``other`` (:func:`request_category`), an HTTP method one of seven
or ``other``. A message written by hand with a new ``app_name`` each time cannot grow a series per
message.
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

from pushworker.mipush import codes

# From enqueue to sent: every few seconds while a queue drains, then minutes up to an outage's.
ENQUEUE_TO_SENT_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60)
ENQUEUE_TO_SENT_SECONDS += (90, 120, 180, 240, 300, 450, 600, 900, 1800, 3600)

# The ``reason`` of a failed or dead delivery: a closed list, from the failure category the
# delivery was recorded with (``failure_reason``), whatever the call site that ended it.
FAILURE_REASONS = (
    "no_device",
    "quota",
    "invalid_target",
    "bad_request",
    "config",
    "expired",
    "crashes",
    "retries_exhausted",
)
_FAILED = {
    "no_device": "no_device",
    "quota": "quota",
    "invalid_target": "invalid_target",
    "bad_request": "bad_request",
    "configuration": "config",
    "expired": "expired",
}
_DEAD = {"poison": "crashes", "expired": "expired"}  # any other: its retries ran out
# Why a delivery was suppressed, as stable names: the policy's categories, and the kinds' own
# reasons (``Event.suppressed``) by their words. The detail (a cap of 5, a window of 600 s) is in
# the row and the log line, never the label; an unlisted reason counts as "other".
SUPPRESSED_REASONS = (
    "preference_off",
    "summary_pending",
    "recipient_quiet_hours",
    "duplicate",
    "daily_cap",
    "quiet_hours",
    "owner_viewed_own_goods",
    "other",
)

DELIVERIES = Counter(
    "pushworker_deliveries",
    "Deliveries that reached an end state; reason: why a failed or dead one stopped",
    ["app", "status", "reason"],
)
XIAOMI_REQUESTS = Counter(
    "pushworker_xiaomi_requests",
    "HTTP requests to Xiaomi by answer code (0: accepted; a word when Xiaomi gave no code; other: "
    "a code not in the table) and its category (accepted, transient, throttled, quota, "
    "invalid_target, configuration, bad_request); environment: the production or sandbox host",
    ["app", "platform", "environment", "code", "category"],
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
    buckets=ENQUEUE_TO_SENT_SECONDS,
)
RETRIES = Counter("pushworker_retries", "Broker retries scheduled (budget spent)", ["app"])
SUPPRESSED = Counter(
    "pushworker_suppressed",
    "Deliveries suppressed on purpose, by stable reason (" + ", ".join(SUPPRESSED_REASONS) + ")",
    ["reason"],
)
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


def _seconds_since(moment: Any) -> float:
    from django.utils import timezone

    return max(0.0, (timezone.now() - moment).total_seconds()) if moment else 0.0


def failure_reason(status: str, category: str) -> str:
    """The ``reason`` label of a delivery that ended ``status`` with failure ``category``: one of
    ``FAILURE_REASONS`` for failed and dead deliveries (an unknown category is a bad request, as
    an unknown Xiaomi code is), empty for the others."""
    if status == "dead":
        return _DEAD.get(category, "retries_exhausted")
    if status == "failed":
        return _FAILED.get(category, "bad_request")
    return ""


def suppressed_reason(category: str, detail: str = "") -> str:
    """The stable name of a suppression: its category, or for a kind's own reason (category
    ``suppressed``) its words; one of ``SUPPRESSED_REASONS``."""
    name = _SLUG.sub("_", detail.lower()).strip("_") if category == "suppressed" else category
    return name if name in SUPPRESSED_REASONS else "other"


def request_category(code: int | str | None) -> tuple[str, str]:
    """``(code, category)`` labels of one answer: Xiaomi's code (``other`` when the table does
    not know it) or the category word the client gave instead, and the code's category."""
    if code == 0:
        return "0", "accepted"
    if isinstance(code, int):
        category = str(codes.category_for_code(code))
        return (str(code) if codes.is_known_code(code) else "other"), category
    word = str(code or "")
    if word in {str(c) for c in codes.Category}:
        return word, word
    return "other", str(codes.UNKNOWN_CODE_CATEGORY)


# Hooks: one call at each place an outcome is decided (records, enqueue, the API). Call sites pass
# the recorded failure category; which label it becomes is decided above, here only.


def delivery_finished(delivery: Any, status: str, category: str = "") -> None:
    app = app_label(delivery.app_name)
    DELIVERIES.labels(app, status, failure_reason(status, category)).inc()
    if status == "suppressed":
        SUPPRESSED.labels(suppressed_reason(category, getattr(delivery, "error_reason", ""))).inc()
    elif status in ("sent", "partial"):
        ENQUEUE_TO_SENT.labels(app).observe(_seconds_since(delivery.created_at))


def request_finished(request: Any, code: int | str | None, events: int = 1) -> None:
    """One request to Xiaomi answered (``request``: ``store.attempts.Request``), ``code`` 0 when
    it was accepted."""
    app = app_label(request.app_name)
    code_label, category = request_category(code)
    XIAOMI_REQUESTS.labels(app, request.platform, request.environment, code_label, category).inc()
    XIAOMI_SECONDS.labels(app, request.platform).observe(_seconds_since(request.started_at))
    XIAOMI_EVENTS.labels(app, request.platform).observe(events)


def retry_scheduled(delivery: Any, spent: bool = True) -> None:
    if spent:  # a wait for the shared rate limit spends no budget
        RETRIES.labels(app_label(delivery.app_name)).inc()


def rejected(delivery: Any, created: bool) -> None:
    if created:  # a malformed copy of a recorded event changes nothing
        delivery_finished(delivery, "failed", "bad_request")


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


def registry(path: Path, collectors: Sequence[Any] = ()) -> CollectorRegistry:
    """The samples every process wrote under ``path``, plus ``collectors`` read at scrape time
    (a :class:`ScrapeTimeGauge`, the worker's saturation: ``pushworker.broker.saturation``)."""
    found = CollectorRegistry()
    MultiProcessCollector(found, path=str(path))
    for collector in collectors:
        found.register(collector)
    return found


def start_worker_server(collectors: Sequence[Any] = ()) -> None:
    """Serve the worker's /metrics on ``METRICS_PORT`` (nothing when it is 0), with
    ``collectors`` read at scrape time."""
    from pushworker import conf

    port = conf.get().metrics_port
    if not port:
        return
    path = directory("worker", port)
    multiprocess_mode(path)
    start_http_server(port, registry=registry(path, collectors))


def child_exited(pid: int | None = None, **_: Any) -> None:
    """Celery's ``worker_process_shutdown`` / gunicorn's ``child_exit``."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        mark_process_dead(pid or os.getpid(), path)
