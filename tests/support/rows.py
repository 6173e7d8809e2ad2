"""Rows as the engine writes them, for tests that need a request on record."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def attempt(
    delivery: Any, *, key: str, platform: str, environment: str, target_type: str, targets: str
) -> Any:
    """One request on record for ``delivery`` (its attempt row, ``sending``, as written before the
    request is made).

    Imports late: the integration suites set Django up after collecting their modules."""
    from pushworker.store import attempts
    from pushworker.store.models import DeliveryAttempt

    unit = SimpleNamespace(
        key=key,
        platform=platform,
        environment=environment,
        target_type=target_type,
        targets=tuple(targets.split(",")),
    )
    attempts.start([(delivery, unit)])
    return DeliveryAttempt.objects.filter(delivery=delivery).latest("pk")


def request(attempt: Any) -> Any:
    """The request an attempt row belongs to, as the sender holds it."""
    from pushworker.store import attempts

    return attempts.Request(
        (attempt.delivery_id,),
        attempt.delivery.app_name,
        attempt.platform,
        attempt.environment,
        attempt.started_at,
    )
