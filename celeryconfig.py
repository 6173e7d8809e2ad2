"""Celery settings for pushworker, in one place; every number below is explained where it is set.

Host projects can copy these or ``from celeryconfig import *``. Values derived from pushworker's
settings (visibility timeout, intervals) come from ``pushworker.conf`` so the two cannot disagree.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from kombu import Queue

from pushworker import conf as _conf

_settings = _conf.load()

broker_url = os.environ.get("PUSHWORKER_BROKER_URL") or "redis://127.0.0.1:6379/0"
# kombu's Redis transport, except that a queue entry that is not a message is dead-lettered
# instead of stopping the worker (see pushworker/transport.py). It takes redis:// URLs as is.
broker_transport = "pushworker.transport:Transport"

# JSON only: a broker that accepted pickle would let anyone who can write to Redis run code here.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
event_serializer = "json"

# Outcomes live in the Delivery table; a result backend would only duplicate them in Redis.
task_ignore_result = True
result_backend = None

# At least once: ack after the task body, requeue when a pool child dies. The Delivery row's claim
# turns redeliveries into no-ops and its claim counter stops a message that kills every child.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

QUEUE = "pushworker"
MAINTENANCE_QUEUE = "pushworker.maintenance"
task_default_queue = QUEUE
task_queues = (Queue(QUEUE), Queue(MAINTENANCE_QUEUE))
task_routes = {
    "pushworker.send_goods_visit": {"queue": QUEUE},
    "pushworker.relay_outbox": {"queue": MAINTENANCE_QUEUE},
    "pushworker.sweep_stuck": {"queue": MAINTENANCE_QUEUE},
    "pushworker.purge_expired": {"queue": MAINTENANCE_QUEUE},
}

# Redis emulates acks with a visibility timeout: an unacked message is handed out again after it.
# Every retry countdown stays at most half of it (checked in pushworker.conf), and the restore sweep
# runs every second instead of every 100 s, so a killed worker's message returns in
# visibility_timeout + ~1 s. Socket timeouts keep a hung Redis from blocking any process forever.
broker_transport_options = {
    "visibility_timeout": _settings.visibility_timeout,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "socket_keepalive": True,
    "health_check_interval": 10,
    "max_retries": 1,
}
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

# Messages that are not runnable tasks are kept in the DeadLetter table instead of only logged.
worker_consumer = "pushworker.consumer:DeadLetteringConsumer"

# A run that outlives its claim lease (the longest legitimate run) is stuck: stop it there, well
# before the visibility timeout would let a second copy run beside it.
task_time_limit = math.ceil(_settings.claim_lease_seconds)

# Flower shows what workers report; events carry task names and ids/names, never secrets.
worker_send_task_events = True

beat_schedule = {
    "relay-outbox": {
        "task": "pushworker.relay_outbox",
        "schedule": _settings.relay_interval_seconds,
    },
    "sweep-stuck": {"task": "pushworker.sweep_stuck", "schedule": _settings.sweep_interval_seconds},
    # Retention (pushworker/purge.py): hourly bounded runs keep each one short.
    "purge-expired": {"task": "pushworker.purge_expired", "schedule": 3600.0},
}
# Beat's own bookkeeping (last run times), next to the standalone service's other files.
_home = Path(os.environ.get("PUSHWORKER_HOME") or "var")
beat_schedule_filename = os.environ.get("PUSHWORKER_BEAT_SCHEDULE") or str(
    _home / "celerybeat-schedule"
)
Path(beat_schedule_filename).parent.mkdir(parents=True, exist_ok=True)
