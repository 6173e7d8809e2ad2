"""pushworker's queues and which task goes to which: names only, no Celery (producers read them).

Three lanes, so that nothing urgent waits behind bulk work: an urgent kind's events (an order
shipped) have their own queue; bulk events (goods visits) and their drains share another; the
beat's maintenance (relay, sweeper, purge, the daily summaries' scheduler) has its own. A worker
consumes them in that order of preference (``CONSUMED``).
"""

from __future__ import annotations

from pushworker.events import registry
from pushworker.events.base import Priority

QUEUE = "pushworker"  # bulk events and the drains of waiting rows
URGENT_QUEUE = "pushworker.urgent"
MAINTENANCE_QUEUE = "pushworker.maintenance"
# The order a worker asks its queues in (the transport's "priority" queue order).
CONSUMED = (URGENT_QUEUE, MAINTENANCE_QUEUE, QUEUE)


def queue_of(priority: Priority) -> str:
    return URGENT_QUEUE if priority == Priority.URGENT else QUEUE


# One route for every kind's task, by its priority: the registry names them (adding a kind adds
# its route).
ROUTES = {
    **{
        kind.task_name(): {"queue": queue_of(kind.policy.priority)}
        for kind in registry.kinds().values()
    },
    "pushworker.drain": {"queue": QUEUE},
    "pushworker.relay_outbox": {"queue": MAINTENANCE_QUEUE},
    "pushworker.sweep_stuck": {"queue": MAINTENANCE_QUEUE},
    "pushworker.purge_expired": {"queue": MAINTENANCE_QUEUE},
    "pushworker.send_daily_summaries": {"queue": MAINTENANCE_QUEUE},
}
# The purge acks on receipt and runs minutes, not one send's lease (pushworker.tasks.purge_expired).
OWN_OPTIONS = {"pushworker.purge_expired"}
