"""The worker's message consumer, extended to dead-letter messages it cannot run as tasks.

Celery logs and drops such messages; an operator would only find them by reading logs. Here each
is also kept as a :class:`~pushworker.store.models.DeadLetter` row, visible in the admin.
"""

from __future__ import annotations

from celery.worker.consumer import Consumer


def store(reason: str, message: object, body: object = None) -> None:
    """Keep a message the worker cannot run, through the one writer of such rows (``deadletters``).

    Imported late: the transport loads this module before Django's apps are ready.
    """
    from pushworker.ops import metrics
    from pushworker.store import deadletters

    deadletters.dead_letter(reason, message, body)
    metrics.dead_lettered(message)


class DeadLetteringConsumer(Consumer):
    def on_decode_error(self, message, exc):
        store(f"undecodable: {type(exc).__name__}: {exc}", message)
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body, message):
        store("not a task message", message, body)
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body, message, exc):
        store(f"unknown task: {exc}", message, body)
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body, message, exc):
        store(f"invalid task message: {exc}", message, body)
        super().on_invalid_task(body, message, exc)
