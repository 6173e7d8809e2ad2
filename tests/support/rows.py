"""Rows as the engine writes them, for tests that need a request on record."""

from __future__ import annotations

from types import SimpleNamespace

from pushworker.store import attempts
from pushworker.store.models import Delivery, DeliveryAttempt


def attempt(
    delivery: Delivery, *, key: str, platform: str, environment: str, target_type: str, targets: str
) -> DeliveryAttempt:
    """One request on record for ``delivery`` (``sending``, as written before it is made)."""
    unit = SimpleNamespace(
        key=key,
        platform=platform,
        environment=environment,
        target_type=target_type,
        targets=tuple(targets.split(",")),
    )
    [made] = attempts.start([(delivery, unit)])
    return made
