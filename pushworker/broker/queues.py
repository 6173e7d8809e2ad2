"""pushworker's queues and which task goes to which: names only, no Celery (producers read them)."""

from __future__ import annotations

from pushworker.events import registry

QUEUE = "pushworker"
MAINTENANCE_QUEUE = "pushworker.maintenance"
# One route for every kind's task: the registry names them (adding a kind adds its route).
ROUTES = {
    **{name: {"queue": QUEUE} for name in registry.task_names()},
    "pushworker.drain": {"queue": QUEUE},
    "pushworker.relay_outbox": {"queue": MAINTENANCE_QUEUE},
    "pushworker.sweep_stuck": {"queue": MAINTENANCE_QUEUE},
    "pushworker.purge_expired": {"queue": MAINTENANCE_QUEUE},
}
# The purge acks on receipt and runs minutes, not one send's lease (pushworker.tasks.purge_expired).
OWN_OPTIONS = {"pushworker.purge_expired"}
