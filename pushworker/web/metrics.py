"""The web side's metrics: /metrics of ``pushworker web`` and of a host's web processes.

``pushworker web`` switches prometheus-client to multiprocess mode in gunicorn's master before it
forks (``metrics.directory("web", port)``, wiped at start), so any worker's /metrics adds up every
worker's samples: the enqueue counts of ``delay()`` called in the web process and the API's.

A host project's own web processes are where its ``delay()`` calls run, so its
``pushworker_enqueued_total`` is counted there. To serve it summed over its gunicorn workers, the
host mounts :func:`view` (``path("metrics", pushworker.web.metrics.view)``), sets
``PROMETHEUS_MULTIPROC_DIR`` for gunicorn, and names :func:`on_starting` and :func:`child_exit` in
its gunicorn configuration (``from pushworker.web.metrics import child_exit, on_starting``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from pushworker.ops import metrics


def prepare(port: int) -> None:
    """In gunicorn's master, before the workers fork."""
    metrics.multiprocess_mode(metrics.directory("web", port))


def on_starting(server: Any) -> None:
    """gunicorn's ``on_starting`` hook for a host project: the empty multiprocess directory.

    ``PROMETHEUS_MULTIPROC_DIR`` is required: without it each worker would answer its own counts.
    Samples a previous run left there are removed, as prometheus-client asks.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not path:
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR is not set: set it to a directory for gunicorn's workers "
            "to write their samples to, so /metrics adds them up"
        )
    metrics.multiprocess_mode(Path(path))


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: the dead worker's live gauges leave the sums."""
    metrics.child_exited(worker.pid)


def view(request: HttpRequest) -> HttpResponse:
    """Every metric of this process's registry; in multiprocess mode, of every worker summed."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = metrics.registry(Path(path)) if path else REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class ApiMetricsMiddleware:
    """Counts the device API's answers by method and status (``pushworker_api_requests_total``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/api/"):
            metrics.api_answered(request.method or "", response.status_code)
        return response
