"""Celery settings of the standalone service (``celery -A pushworker``), read from the environment.

A host project does not use this module: it keeps its own Celery settings and calls
``pushworker.broker.install.install(app)``, which adds what is pushworker's (queues, routes, beat,
transport, per-task options) to both. Importing this module has no side effects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pushworker.broker.install import broker_for
from pushworker.broker.queues import QUEUE
from pushworker.conf import SettingsError


def broker_settings(environ: Mapping[str, str]) -> tuple[str, str | None, dict[str, Any]]:
    """``(broker_url, broker_transport, broker_transport_options)`` the environment describes.

    A ``sentinel://`` URL names sentinels, not a Redis: kombu asks them for the master known by
    ``master_name`` (Celery's ``broker_transport_options['master_name']``), which the standalone
    service reads from ``PUSHWORKER_BROKER_MASTER_NAME``. Sentinels that require a password get
    it from ``PUSHWORKER_BROKER_SENTINEL_PASSWORD`` (kombu's ``sentinel_kwargs``); the password in
    the URL is the master's.
    """

    def value(name: str) -> str:
        return (environ.get(name) or "").strip()

    # The hardened transport for every Redis URL flavour (see pushworker/broker/transport.py).
    url, transport = broker_for(value("PUSHWORKER_BROKER_URL") or "redis://127.0.0.1:6379/0")
    options: dict[str, Any] = {}
    if (url or "").lower().startswith("sentinel://"):
        options["master_name"] = value("PUSHWORKER_BROKER_MASTER_NAME")
        if not options["master_name"]:
            raise SettingsError(
                [
                    "PUSHWORKER_BROKER_MASTER_NAME: required with a sentinel:// "
                    "PUSHWORKER_BROKER_URL; the name the sentinels monitor the master under "
                    "('sentinel monitor <name> ...')"
                ]
            )
        if password := value("PUSHWORKER_BROKER_SENTINEL_PASSWORD"):
            options["sentinel_kwargs"] = {"password": password}
    return url or "", transport, options


broker_url, broker_transport, broker_transport_options = broker_settings(os.environ)

# JSON only: a broker that accepted pickle would let anyone who can write to Redis run code here.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# Outcomes live in the Delivery table; a result backend would only duplicate them in Redis.
task_ignore_result = True
result_backend = None

# The service runs only pushworker's tasks, so their per-task options (late acks, requeue on a
# lost worker, see pushworker.broker.install) are also the defaults; one prefetched message per
# process keeps a slow send from holding others back unacknowledged.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_default_queue = QUEUE

broker_connection_retry_on_startup = True
broker_connection_max_retries = None  # a worker waits for Redis to come back, however long
task_publish_retry_policy = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
worker_cancel_long_running_tasks_on_connection_loss = False

# Keep database connections between tasks: Celery's Django fix-up otherwise closes them around
# every task, a new PostgreSQL backend per push. pushworker.tasks drops stale or broken ones
# (Django's CONN_MAX_AGE and health checks) before each task instead. The name is the fix-up's.
CELERY_DB_REUSE_MAX = 1_000_000

# Flower shows what workers report; events carry task names and ids/names, never secrets.
worker_send_task_events = True

# Beat's own bookkeeping (last run times), next to the standalone service's other files; the
# scheduler creates the folder when beat starts (pushworker.celery.Scheduler), not this import.
beat_schedule_filename = os.environ.get("PUSHWORKER_BEAT_SCHEDULE") or str(
    Path(os.environ.get("PUSHWORKER_HOME") or "var") / "celerybeat-schedule"
)
beat_scheduler = "pushworker.celery:Scheduler"
