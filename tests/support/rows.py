"""Rows as the engine writes them, for tests that need a request on record."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def attempt(
    delivery: Any, *, key: str, platform: str, environment: str, target_type: str, targets: str
) -> Any:
    """One request on record for ``delivery`` (``sending``, as written before it is made).

    Imports late: the integration suites set Django up after collecting their modules."""
    from pushworker.store import attempts

    unit = SimpleNamespace(
        key=key,
        platform=platform,
        environment=environment,
        target_type=target_type,
        targets=tuple(targets.split(",")),
    )
    [made] = attempts.start([(delivery, unit)])
    return made
