"""The ``RATE_LIMITS`` setting: requests per second toward Xiaomi, per app and platform.

Read from ``settings.PUSHWORKER['RATE_LIMITS']`` or ``PUSHWORKER_RATE_LIMIT``; checked when a
worker starts (``pushworker.broker.install``), used by the shared limiter
(``pushworker.delivery.ratelimit``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_KNOBS = ("default", "max_wait", "backoff", "floor")


@dataclass(frozen=True)
class RateLimits:
    """Requests per second toward Xiaomi: ``per`` keys are ``app`` or ``app.platform``."""

    default: float = 500.0  # Xiaomi's lowest per-app quota
    per: Mapping[str, float] = field(default_factory=dict)
    # The longest a worker waits in-task for its slot: inside the claim lease's 2 s of margin.
    max_wait: float = 0.5
    backoff: float = 60.0  # how long a 10027 halving lasts
    floor: float = 1.0  # halving never goes below this

    def rate(self, app: str, platform: str) -> float:
        return self.per.get(f"{app}.{platform}", self.per.get(app, self.default))


def parse(spec: str | Mapping[str, Any] | None) -> RateLimits:
    """``"default=500,qqc.android=3000,max_wait=1,backoff=60"`` (or that as a dict, or ``"500"``).

    Raises ValueError naming the bad key.
    """
    if spec is None or spec == "":
        return RateLimits()
    if isinstance(spec, str):
        items: dict[str, Any] = {}
        for part in spec.split(","):
            key, sep, value = part.strip().partition("=")
            if not sep:
                key, value = "default", key
            items[key.strip()] = value.strip()
        spec = items
    if not isinstance(spec, Mapping):
        raise ValueError("RATE_LIMITS must be a dict or a 'key=value,...' string")
    numbers: dict[str, float] = {}
    for key, value in spec.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"RATE_LIMITS[{key!r}] must be a number, got {value!r}") from None
        allowed = number >= 0 if key == "max_wait" else number > 0
        if not allowed or not math.isfinite(number):
            raise ValueError(f"RATE_LIMITS[{key!r}] must be a number above 0, got {value!r}")
        numbers[str(key)] = number
    knobs = {k: numbers.pop(k) for k in _KNOBS if k in numbers}
    return RateLimits(**knobs, per=numbers)


def settings() -> RateLimits:
    """``settings.PUSHWORKER['RATE_LIMITS']``, else ``PUSHWORKER_RATE_LIMIT``, else 500/s.

    Checked when a worker starts (``pushworker.broker.install``): a bad value raises ValueError.
    """
    from pushworker import conf

    spec = (conf.host_spec() or {}).get("RATE_LIMITS")
    source = "settings.PUSHWORKER['RATE_LIMITS']"
    if spec is None:
        source, spec = "PUSHWORKER_RATE_LIMIT", os.environ.get("PUSHWORKER_RATE_LIMIT")
    try:
        return parse(spec)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
