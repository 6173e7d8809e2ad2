"""The worker's message consumer, extended to dead-letter messages it cannot run as tasks.

Celery logs and drops such messages; an operator would only find them by reading logs. Here each
is also kept as a :class:`~pushworker.models.DeadLetter` row, visible in the admin.
"""

from __future__ import annotations

import logging

from celery.worker.consumer import Consumer

from pushworker.envelope import printable

log = logging.getLogger("pushworker.deadletter")
MAX_BODY = 64 * 1024


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        value = bytes(value[:MAX_BODY]).decode("utf-8", errors="replace")
    # PostgreSQL text cannot hold NUL; garbage is exactly where it turns up.
    return str(value)[:MAX_BODY].replace("\x00", "\\x00")


def store(reason: str, message: object, body: object = None) -> None:
    """Keep what arrived; a failure to store is logged, never allowed to stop the consumer."""
    from pushworker.models import DeadLetter

    headers = getattr(message, "headers", None) or {}
    if not isinstance(headers, dict):
        headers = {"raw": headers}
    try:
        DeadLetter.objects.create(
            reason=reason[:255],
            task_name=_text(headers.get("task", ""))[:255],
            task_id=_text(headers.get("id", ""))[:255],
            headers=_text(headers),
            body=_text(body if body is not None else getattr(message, "body", "")),
        )
    except Exception:  # noqa: BLE001 - the consumer must keep consuming
        log.exception("could not store a dead letter", extra={"reason": printable(reason)})
    else:
        fields = {"reason": printable(reason), "task": printable(headers.get("task"))}
        log.error("dead-lettered a message", extra=fields)


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
