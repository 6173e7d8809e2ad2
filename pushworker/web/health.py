"""``GET /healthz``: can this web process reach its database and its broker? 200 or 503, as JSON.

The answer names which part is down by its exception class only: an error message may carry a
host name or a user name, and the endpoint is open to whatever load balancer asks.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger("pushworker.health")
BROKER_TIMEOUT_SECONDS = 3.0


def database_problem() -> str | None:
    """None when ``SELECT 1`` answers on the default database, else the error's class name."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable"
        log.warning("health: database unreachable", extra={"problem": type(error).__name__})
        connection.close()  # the next request reconnects instead of reusing a dead connection
        return type(error).__name__
    return None


def broker_problem(broker: Any = None) -> str | None:
    """None when the broker takes a connection within the timeout, else the error's class name.

    ``broker`` is a kombu connection; by default the one the tasks publish with, so the check uses
    the same URL, transport and options as ``send_goods_visit.delay``.
    """
    if broker is None:
        from pushworker.tasks import send_goods_visit

        broker = send_goods_visit.app.connection_for_write()
    try:
        with broker:
            broker.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
            )
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable"
        log.warning("health: broker unreachable", extra={"problem": type(error).__name__})
        return type(error).__name__
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"status": "ok", ...}`` when both answer; 503 naming the part that does not."""
    problems = {"database": database_problem(), "broker": broker_problem()}
    body: dict[str, str] = {
        part: "ok" if problem is None else f"unreachable ({problem})"
        for part, problem in problems.items()
    }
    healthy = not any(problems.values())
    body = {"status": "ok" if healthy else "unavailable", **body}
    return JsonResponse(body, status=200 if healthy else 503)
