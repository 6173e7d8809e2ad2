"""How long delivery records are kept, per app: read once from ``PUSHWORKER['RETENTION']`` and env.

Shape of the settings dict (every key optional; the environment fills the defaults)::

    PUSHWORKER = {
        "RETENTION": {
            "DAYS": 30,                  # finished deliveries and their attempts
            "DEAD_LETTER_DAYS": 90,      # deliveries in ``dead`` and DeadLetter rows
            "KEEP_DAILY_AGGREGATE": True,  # count what the purge deletes per day/app/platform/...
            "APPS": {"qqc": {"DAYS": 7}},  # any of the three keys above, for one app
        },
    }

Without a host dict, the environment fills the same keys (pushworker/conf/env.py):
``PUSHWORKER_RETENTION_DAYS``, ``PUSHWORKER_DEAD_LETTER_RETENTION_DAYS`` and
``PUSHWORKER_KEEP_DAILY_AGGREGATE`` (``1``/``0``). ``manage.py check`` reports every problem
(pushworker.E003).

The idempotency rule: a delivery's row must outlive every broker message that can still carry its
event, or a late copy would find no row and send again. After a row finishes, a copy can still
arrive for at most :func:`redelivery_horizon_seconds` (a worker that died after finishing but
before its ack: one visibility timeout per allowed crash, plus the whole retry budget, plus the
sweeper's staleness period). Every retention must exceed it; :func:`load` refuses one that does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pushworker import conf
from pushworker.conf import env as conf_env

_KEYS = {"DAYS", "DEAD_LETTER_DAYS", "KEEP_DAILY_AGGREGATE"}
DAY = 86_400


class RetentionError(conf.SettingsError):
    """The retention settings are unusable; the message names every bad key."""


@dataclass(frozen=True)
class Retention:
    """One app's retention: days after ``finished_at`` (``received_at`` for dead letters)."""

    days: int = 30
    dead_letter_days: int = 90
    keep_daily_aggregate: bool = True


@dataclass(frozen=True)
class RetentionSettings:
    """The default retention and the apps that override it."""

    default: Retention = Retention()
    apps: Mapping[str, Retention] = field(default_factory=dict)

    def for_app(self, app_name: str) -> Retention:
        return self.apps.get(app_name, self.default)


def redelivery_horizon_seconds(settings: conf.Settings) -> float:
    """How long after a delivery finished a broker copy of its event may still run."""
    return (
        settings.visibility_timeout * (settings.max_crashes + 1)
        + settings.batch_run_seconds
        + settings.stale_after_seconds
    )


def _days(value: Any, where: str, problems: list[str]) -> int | None:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        problems.append(f"{where} must be a whole number of days >= 1, not {value!r}")
        return None
    return int(text)


def _flag(value: Any, where: str, problems: list[str]) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    problems.append(f"{where} must be true or false (1/0), not {value!r}")
    return None


def _retention(
    spec: Mapping[str, Any], base: Retention, where: str, problems: list[str]
) -> Retention:
    for key in sorted(set(spec) - _KEYS - {"APPS"}):
        problems.append(f"{where}[{key!r}] is not a known key ({', '.join(sorted(_KEYS))})")
    days = _days(spec["DAYS"], f"{where}['DAYS']", problems) if "DAYS" in spec else base.days
    dead = base.dead_letter_days
    if "DEAD_LETTER_DAYS" in spec:
        dead = _days(spec["DEAD_LETTER_DAYS"], f"{where}['DEAD_LETTER_DAYS']", problems)
    keep = base.keep_daily_aggregate
    if "KEEP_DAILY_AGGREGATE" in spec:
        keep = _flag(spec["KEEP_DAILY_AGGREGATE"], f"{where}['KEEP_DAILY_AGGREGATE']", problems)
    return Retention(days or base.days, dead or base.dead_letter_days, bool(keep))


def load(
    spec: Mapping[str, Any] | None = None, settings: conf.Settings | None = None
) -> RetentionSettings:
    """Read and check ``PUSHWORKER['RETENTION']``; :class:`RetentionError` names every problem.

    ``settings`` (the worker's) adds the idempotency check: every retention exceeds the redelivery
    horizon.
    """
    problems: list[str] = []
    spec = {} if spec is None else spec
    if not isinstance(spec, Mapping):
        raise RetentionError(["PUSHWORKER['RETENTION'] must be a dict"])
    default = _retention(spec, Retention(), "PUSHWORKER['RETENTION']", problems)
    apps: dict[str, Retention] = {}
    app_specs = spec.get("APPS") or {}
    if not isinstance(app_specs, Mapping):
        problems.append("PUSHWORKER['RETENTION']['APPS'] must be a dict of app name → dict")
        app_specs = {}
    for name, app_spec in app_specs.items():
        where = f"PUSHWORKER['RETENTION']['APPS'][{name!r}]"
        if not isinstance(app_spec, Mapping):
            problems.append(f"{where} must be a dict")
            continue
        apps[str(name)] = _retention(app_spec, default, where, problems)
    if settings is not None:
        horizon = redelivery_horizon_seconds(settings)
        for name, retention in [("default", default), *apps.items()]:
            if min(retention.days, retention.dead_letter_days) * DAY <= horizon:
                problems.append(
                    f"retention of {name} ({retention.days} days) must exceed the redelivery "
                    f"horizon ({horizon:.0f} s): a late broker copy would find no row"
                )
    if problems:
        raise RetentionError(problems)
    return RetentionSettings(default=default, apps=apps)


def spec_of_process() -> Mapping[str, Any] | None:
    """``PUSHWORKER['RETENTION']`` of the host's dict, else of the dict the environment fills."""
    host = conf.host_spec()
    spec = host if host is not None else conf_env.to_spec(os.environ)[0]
    return spec.get("RETENTION") if isinstance(spec, Mapping) else None


def get() -> RetentionSettings:
    """The process's retention, checked against its redelivery horizon."""
    return load(spec_of_process(), settings=conf.get())
