"""The standalone service's way of filling the ``PUSHWORKER`` dict: from environment variables.

Each variable fills one key of the same dict a host project writes in its settings, so there is
one parser (:mod:`pushworker.conf.parse`). The variable names are kept per key, so a problem is
reported under the name the operator actually set. Values are stripped; an empty variable is an
unset one, which leaves the key at its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pushworker.conf.parse import TOP_KEYS

Path = tuple[str, ...]

# Top-level keys and the variable that fills each: PUSHWORKER_<key>, but for the MiPush ones (which
# keep the MIPUSH_ prefix) and RATE_LIMITS. The keys themselves are the parser's, so a new setting
# gets its variable without a second list; APPS, DEFAULT_APP and RETENTION are filled per key below.
_NAMED = {
    "PRODUCTION_URL": "MIPUSH_PRODUCTION_URL",
    "SANDBOX_URL": "MIPUSH_SANDBOX_URL",
    "CONNECT_TIMEOUT": "MIPUSH_CONNECT_TIMEOUT",
    "READ_TIMEOUT": "MIPUSH_READ_TIMEOUT",
    "RATE_LIMITS": "PUSHWORKER_RATE_LIMIT",  # parsed by pushworker.conf.ratelimit
}
_NESTED = ("APPS", "DEFAULT_APP", "RETENTION")
TOP_LEVEL = {key: _NAMED.get(key, f"PUSHWORKER_{key}") for key in TOP_KEYS if key not in _NESTED}
APP_NAME = "PUSHWORKER_APP_NAME"
DEFAULT_APP_NAME = "qqc"
# Keys of the one app the environment describes, relative to PUSHWORKER['APPS'][name].
APP_KEYS: dict[Path, str] = {
    ("ALIAS_PREFIX",): "PUSHWORKER_ALIAS_PREFIX",
    ("ANONYMOUS_NICKNAME",): "PUSHWORKER_ANONYMOUS_NICKNAME",
    ("ANDROID", "APP_SECRET"): "MIPUSH_ANDROID_APP_SECRET",
    ("ANDROID", "PACKAGE_NAME"): "MIPUSH_ANDROID_PACKAGE_NAME",
    ("IOS", "APP_SECRET"): "MIPUSH_IOS_APP_SECRET",
    ("IOS", "BUNDLE_ID"): "MIPUSH_IOS_BUNDLE_ID",
    ("POLICY",): "PUSHWORKER_POLICY",  # "off" or "KEY=value,...": pushworker.conf.policy
}
# Retention (pushworker/conf/retention.py reads and checks PUSHWORKER['RETENTION']).
RETENTION_KEYS: dict[Path, str] = {
    ("RETENTION", "DAYS"): "PUSHWORKER_RETENTION_DAYS",
    ("RETENTION", "DEAD_LETTER_DAYS"): "PUSHWORKER_DEAD_LETTER_RETENTION_DAYS",
    ("RETENTION", "KEEP_DAILY_AGGREGATE"): "PUSHWORKER_KEEP_DAILY_AGGREGATE",
}
# Variables read by the standalone service's own Django/Celery settings, not by this dict: in a
# host project the host's DATABASES, CELERY_BROKER_URL, SECRET_KEY, ... take their place.
STANDALONE_ONLY = (
    "PUSHWORKER_BROKER_URL",
    "PUSHWORKER_BROKER_MASTER_NAME",
    "PUSHWORKER_BROKER_SENTINEL_PASSWORD",
    "PUSHWORKER_DATABASE_URL",
    "PUSHWORKER_HOME",
    "PUSHWORKER_BEAT_SCHEDULE",
    "PUSHWORKER_SECRET_KEY",
    "PUSHWORKER_DEBUG",
    "PUSHWORKER_ALLOWED_HOSTS",
    "PUSHWORKER_LOG_LEVEL",
    "PUSHWORKER_TEST_DATABASE_URL",
    "PUSHWORKER_BENCH_DATABASE_URL",
    "PUSHWORKER_BENCH_REDIS_SERVER",
)


def variables() -> tuple[str, ...]:
    """Every variable that fills a key of the dict."""
    return (*TOP_LEVEL.values(), APP_NAME, *APP_KEYS.values(), *RETENTION_KEYS.values())


def to_spec(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[Path, str]]:
    """The ``PUSHWORKER`` dict the environment describes, and the variable behind each key."""

    def value(name: str) -> str | None:
        raw = environ.get(name)
        return raw.strip() or None if raw is not None else None

    spec: dict[str, Any] = {}
    labels: dict[Path, str] = {}
    for key, name in TOP_LEVEL.items():
        labels[(key,)] = name
        if (found := value(name)) is not None:
            spec[key] = found
    app_name = value(APP_NAME) or DEFAULT_APP_NAME
    app: dict[str, Any] = {}
    for path, name in APP_KEYS.items():
        labels[("APPS", app_name, *path)] = name
        found = value(name)
        if found is None:
            continue
        target = app
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = found
    for (top, key), name in RETENTION_KEYS.items():
        labels[(top, key)] = name
        if (found := value(name)) is not None:
            spec.setdefault(top, {})[key] = found
    spec["APPS"] = {app_name: app}
    spec["DEFAULT_APP"] = app_name
    labels[("APPS",)] = labels[("DEFAULT_APP",)] = APP_NAME
    labels[("APPS", app_name)] = f"app {app_name!r} ({APP_NAME})"
    return spec, labels


def key_of(variable: str) -> str | None:
    """The dict key a variable fills, as a host project writes it (``None`` for others)."""
    for key, name in TOP_LEVEL.items():
        if name == variable:
            return f"PUSHWORKER[{key!r}]"
    for path, name in APP_KEYS.items():
        if name == variable:
            return "PUSHWORKER['APPS'][<app>]" + "".join(f"[{p!r}]" for p in path)
    for path, name in RETENTION_KEYS.items():
        if name == variable:
            return "PUSHWORKER" + "".join(f"[{p!r}]" for p in path)
    return "PUSHWORKER['APPS'] (its key)" if variable == APP_NAME else None


def ignored(environ: Mapping[str, str]) -> list[str]:
    """Variables that are set but unused because the host's ``PUSHWORKER`` dict is the source."""
    return sorted(name for name in variables() if (environ.get(name) or "").strip())
