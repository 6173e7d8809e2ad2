"""The typed, frozen shape of pushworker's settings: apps, credentials, retry budget, problems.

Built by :mod:`pushworker.conf.parse` from the ``PUSHWORKER`` dict; read through
:func:`pushworker.conf.get`. Secrets are wrapped in :class:`Secret`, whose ``repr``/``str`` hide
the value, so no log line, exception or DEBUG page built from these objects shows one.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pushworker.conf.policy import Policy
from pushworker.conf.redaction import mask_url_credentials

XIAOMI_PRODUCTION_URL = "https://api.xmpush.xiaomi.com"
XIAOMI_SANDBOX_URL = "https://sandbox.xmpush.xiaomi.com"


@dataclass(frozen=True)
class Problem:
    """One bad, missing or inconsistent setting, named as the operator wrote it.

    ``credentials`` marks a problem that only stops sending (a missing secret): web processes,
    which only enqueue, run with it; workers refuse to start.
    """

    key: str
    message: str
    credentials: bool = False

    def __str__(self) -> str:
        return f"{self.key} {self.message}"


class SettingsError(Exception):
    """pushworker's settings are unusable; ``problems`` lists every bad or missing key.

    Not to be confused with :class:`pushworker.mipush.ConfigurationError`, which is Xiaomi
    refusing a request (a wrong secret or package at Xiaomi's end).
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("pushworker is misconfigured:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Secret:
    """A credential whose ``repr``/``str`` are ``Secret('****')``; only :attr:`value` holds it."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def masked(self) -> str:
        return f"**** ({len(self.value)} chars)" if self.value else "(empty)"


@dataclass(frozen=True)
class PlatformCredentials:
    """What pushworker needs to send for one platform of one app."""

    secret: Secret
    package: str  # Android package name or iOS bundle id


@dataclass(frozen=True)
class ReceiptSettings:
    """Xiaomi's delivery receipts (pushworker/conf/receipts.py): off while ``url`` is empty."""

    url: str = ""  # the receipts endpoint without the token, e.g. http://host/api/v1/receipts
    token: Secret = Secret("")
    types: int = 1 | 2 | 16 | 128  # delivered, clicked, invalid target, over quota (§5.3)
    previous_token: Secret = Secret("")  # still accepted during a rotation, never sent

    @property
    def enabled(self) -> bool:
        return bool(self.url and self.token.value)

    def accepts(self, token: str) -> bool:
        """Whether a receipt's path token is the token or, during a rotation, the previous one;
        both are compared in constant time, every time."""
        if not self.enabled:
            return False
        given = token.encode()
        current = hmac.compare_digest(given, self.token.value.encode())
        previous = hmac.compare_digest(given, self.previous_token.value.encode())
        return current or (previous and bool(self.previous_token.value))

    def callback_url(self) -> str:
        """What ``extra.callback`` carries: it holds the token, so it is never logged."""
        return f"{self.url}/{self.token.value}"


DEFAULT_ANONYMOUS_NICKNAME = "有用户"


@dataclass(frozen=True)
class AppSettings:
    """One mobile app: its name, its phones' alias prefix, per-platform credentials.

    ``anonymous_nickname`` is the name shown for a visitor without an id (``visitor_id=None``).
    """

    name: str
    alias_prefix: str
    android: PlatformCredentials | None
    ios: PlatformCredentials | None
    anonymous_nickname: str = DEFAULT_ANONYMOUS_NICKNAME
    policy: Policy = field(default_factory=Policy)  # the delivery policy (delivery/policy.py)

    def credentials(self, platform: str) -> PlatformCredentials | None:
        return self.android if platform == "android" else self.ios


@dataclass(frozen=True)
class RetryPolicy:
    """How an event is tried again: quick repeats within a run, then waits as a row that grow
    with each failure (full jitter below a ceiling), until its kind's lifetime ends; ``max_retries``
    (``RETRY_MAX``, unset by default) also ends it after that many failed retries."""

    quick_attempts: int = 3
    quick_budget_seconds: float = 2.0
    quick_base_seconds: float = 0.2
    base_seconds: float = 2.0
    throttled_base_seconds: float = 10.0
    cap_seconds: float = 30.0
    max_retries: int | None = None

    def countdown_ceiling(self, retry: int, throttled: bool = False) -> float:
        """The longest wait before retry ``retry`` (0-based); jitter picks below it."""
        base = self.throttled_base_seconds if throttled else self.base_seconds
        return float(min(self.cap_seconds, base * (2**retry)))


@dataclass(frozen=True)
class OutagePolicy:
    """When a platform and host count as down, and how often a probe asks them again."""

    failures: int = 5  # transient failures in a row that open the breaker
    first_seconds: float = 1.0  # the first wait for a probe; each failed probe doubles it
    longest_seconds: float = 30.0  # the longest wait: at most this after Xiaomi is back
    probe_seconds: float = 10.0  # how long a probe may take before another worker may probe


@dataclass(frozen=True)
class Settings:
    """The whole effective configuration of one process."""

    apps: Mapping[str, AppSettings]
    default_app: str
    production_url: str
    sandbox_url: str
    connect_timeout: float
    read_timeout: float
    retry: RetryPolicy
    enqueue_budget_seconds: float
    breaker_cooldown_seconds: float
    enqueue_outbox: str  # "always" | "on-failure"
    visibility_timeout: int
    stale_after_seconds: int
    max_crashes: int
    claim_lease_seconds: float
    relay_interval_seconds: float
    sweep_interval_seconds: float
    nickname_resolver: str
    unknown_visitor_name: str
    metrics_port: int = 0  # the worker's /metrics port; 0: not served
    batch_size: int = 200  # events per batch run and targets per Xiaomi multi_messages request
    backlog_threshold: int = 20  # queued messages from which new events join the batch drain
    summary_interval_seconds: float = 300.0  # the summaries' scheduler's beat; an hour's slots
    receipts: ReceiptSettings = ReceiptSettings()  # filled by pushworker.conf.receipts
    # Per kind, seconds an event stays worth sending; a kind not named keeps its own (events).
    lifetimes: Mapping[str, float] = field(default_factory=dict)
    outage: OutagePolicy = OutagePolicy()
    # "durable" | "asynchronous": whether the outbox insert of an event whose message follows
    # waits for PostgreSQL's WAL flush (pushworker.store.deliveries.insert)
    enqueue_commit: str = "durable"
    credential_problems: tuple[str, ...] = ()

    @property
    def batch_run_seconds(self) -> float:
        """A batch run's time limit: it starts no request after RETRY_CAP seconds, and the last
        ends within a lease; conf_parse keeps the sum below the visibility timeout."""
        return self.retry.cap_seconds + self.claim_lease_seconds

    @property
    def summary_slot(self) -> timedelta:
        """The slots an hour's daily summaries are spread over: one per run of the scheduler."""
        return timedelta(seconds=self.summary_interval_seconds)

    def app(self, name: str | None) -> AppSettings:
        """The app called ``name`` (default app for ``None``); ``KeyError`` names the known ones."""
        key = name or self.default_app
        try:
            return self.apps[key]
        except KeyError:
            raise KeyError(f"unknown app {key!r}; configured apps: {sorted(self.apps)}") from None

    def require_credentials(self) -> None:
        """Raise :class:`SettingsError` unless every configured app can actually send."""
        if self.credential_problems:
            raise SettingsError(list(self.credential_problems))

    def describe(self) -> dict[str, Any]:
        """The effective configuration with secrets masked, for ``pushworker check``."""
        apps = {}
        for app in self.apps.values():
            apps[app.name] = {
                "alias_prefix": app.alias_prefix,
                "anonymous_nickname": app.anonymous_nickname,
                "policy": app.policy.describe(),
                **{
                    platform: (
                        {"package": creds.package, "app_secret": creds.secret.masked()}
                        if creds
                        else None
                    )
                    for platform, creds in (("android", app.android), ("ios", app.ios))
                },
            }
        return {
            "apps": apps,
            "default_app": self.default_app,
            "production_url": self.production_url,
            "sandbox_url": self.sandbox_url,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "retry": vars(self.retry),
            "lifetimes": dict(self.lifetimes),
            "outage": vars(self.outage),
            "enqueue_budget_seconds": self.enqueue_budget_seconds,
            "breaker_cooldown_seconds": self.breaker_cooldown_seconds,
            "enqueue_outbox": self.enqueue_outbox,
            "enqueue_commit": self.enqueue_commit,
            "visibility_timeout": self.visibility_timeout,
            "stale_after_seconds": self.stale_after_seconds,
            "max_crashes": self.max_crashes,
            "claim_lease_seconds": self.claim_lease_seconds,
            "relay_interval_seconds": self.relay_interval_seconds,
            "sweep_interval_seconds": self.sweep_interval_seconds,
            "batch_size": self.batch_size,
            "backlog_threshold": self.backlog_threshold,
            "summary_interval_seconds": self.summary_interval_seconds,
            "nickname_resolver": self.nickname_resolver,
            "unknown_visitor_name": self.unknown_visitor_name,
            "receipts": {
                "url": mask_url_credentials(self.receipts.url) or None,  # None: off
                "token": self.receipts.token.masked(),
                "previous_token": self.receipts.previous_token.masked(),
                "types": self.receipts.types,
            },
        }
