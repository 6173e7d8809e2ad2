"""The one writer of dead letters: broker messages the worker could not even read as a task."""

from __future__ import annotations

import logging

from pushworker.events import text
from pushworker.store.models import DeadLetter

log = logging.getLogger("pushworker.deadletter")
MAX_BODY = 64 * 1024


def dead_letter(reason: str, message: object, body: object = None) -> None:
    """Keep what arrived; a failure to store is logged, never allowed to stop the consumer.

    Body and headers are kept as evidence (escaped, cut at 64 KiB); reason, task name and id are
    cleaned to one line, so a forged newline cannot fake a log line either."""
    headers = getattr(message, "headers", None) or {}
    headers = headers if isinstance(headers, dict) else {"raw": headers}
    task_name, reason = text.one_line(headers.get("task", ""), 255), text.one_line(reason, 255)
    try:
        DeadLetter.objects.create(
            reason=reason,
            task_name=task_name,
            task_id=text.one_line(headers.get("id", ""), 255),
            headers=text.storable(headers, MAX_BODY),
            body=text.storable(getattr(message, "body", "") if body is None else body, MAX_BODY),
        )
    except Exception:  # noqa: BLE001 - the consumer must keep consuming
        log.exception("could not store a dead letter", extra={"reason": reason})
    else:
        log.error("dead-lettered a message", extra={"reason": reason, "task": task_name})
