"""pushworker's settings: one ``PUSHWORKER`` dict, read once, checked, frozen.

A host project gives the dict in its Django settings. Without it (the standalone service), the
environment fills the same dict (:mod:`pushworker.conf.env`). One parser checks it
(:mod:`pushworker.conf.parse`); ``manage.py check`` reports its problems
(:mod:`pushworker.conf.checks`)
and workers refuse to start on them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pushworker.conf import env as conf_env
from pushworker.conf import parse as conf_parse
from pushworker.conf import receipts as conf_receipts
from pushworker.conf.types import (
    DEFAULT_ANONYMOUS_NICKNAME,
    XIAOMI_PRODUCTION_URL,
    XIAOMI_SANDBOX_URL,
    AppSettings,
    PlatformCredentials,
    Problem,
    RetryPolicy,
    Secret,
    Settings,
    SettingsError,
)

__all__ = [
    "DEFAULT_ANONYMOUS_NICKNAME",
    "XIAOMI_PRODUCTION_URL",
    "XIAOMI_SANDBOX_URL",
    "AppSettings",
    "PlatformCredentials",
    "Problem",
    "RetryPolicy",
    "Secret",
    "Settings",
    "SettingsError",
    "get",
    "host_spec",
    "inspect",
    "load",
]


def inspect(
    environ: Mapping[str, str] | None = None, spec: Mapping[str, Any] | None = None
) -> tuple[Settings, list[Problem]]:
    """The settings (defaults in place of bad values) and every problem, without raising.

    ``spec`` is a host project's ``PUSHWORKER`` dict; without it the environment fills the dict.
    """
    labels = None
    if spec is None:
        spec, labels = conf_env.to_spec(os.environ if environ is None else environ)
    settings, problems = conf_parse.parse(spec, labels)
    receipts, more = conf_receipts.parse(spec, labels)
    return dataclasses.replace(settings, receipts=receipts), problems + more


def load(
    environ: Mapping[str, str] | None = None, spec: Mapping[str, Any] | None = None
) -> Settings:
    """Read and check the configuration; raise :class:`SettingsError` listing every problem.

    Missing credentials do not raise here, because web processes only enqueue and need no Xiaomi
    secret; workers call :meth:`Settings.require_credentials` at start-up.
    """
    settings, problems = inspect(environ, spec)
    errors = [str(p) for p in problems if not p.credentials]
    if errors:
        raise SettingsError(errors)
    return settings


def host_spec() -> Mapping[str, Any] | None:
    """The ``PUSHWORKER`` Django setting, or ``None`` when there is none (or no Django)."""
    from django.conf import settings as django_settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return getattr(django_settings, "PUSHWORKER", None)
    except ImproperlyConfigured:  # used outside Django (the emulator, a bare script)
        return None


@lru_cache(maxsize=1)
def get() -> Settings:
    """The process's settings, loaded on first use from ``PUSHWORKER`` or the environment."""
    return load(spec=host_spec())
