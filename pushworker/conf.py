"""pushworker's settings: read once from the environment (or ``PUSHWORKER``), checked, frozen.

Every knob has one name, one default and one place where it is parsed. Problems are collected and
reported together, naming each key, so an operator fixes a deployment in one pass instead of one
crash at a time. Secrets are wrapped in :class:`Secret`, whose ``repr``/``str`` hide the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

XIAOMI_PRODUCTION_URL = "https://api.xmpush.xiaomi.com"
XIAOMI_SANDBOX_URL = "https://sandbox.xmpush.xiaomi.com"


class ConfigurationError(Exception):
    """The configuration is unusable; ``problems`` lists every bad or missing key."""

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
class AppSettings:
    """One mobile app: its name, its phones' alias prefix, and per-platform credentials."""

    name: str
    alias_prefix: str
    android: PlatformCredentials | None
    ios: PlatformCredentials | None

    def credentials(self, platform: str) -> PlatformCredentials | None:
        return self.android if platform == "android" else self.ios


@dataclass(frozen=True)
class RetryPolicy:
    """One retry budget: quick in-task retries, then broker retries with growing countdowns."""

    quick_attempts: int = 3
    quick_budget_seconds: float = 2.0
    quick_base_seconds: float = 0.2
    base_seconds: float = 2.0
    throttled_base_seconds: float = 10.0
    cap_seconds: float = 30.0
    max_retries: int = 8

    def countdown_ceiling(self, retry: int, throttled: bool = False) -> float:
        """The largest countdown of broker retry ``retry`` (0-based); jitter picks below it."""
        base = self.throttled_base_seconds if throttled else self.base_seconds
        return float(min(self.cap_seconds, base * (2**retry)))

    def worst_case_seconds(self) -> float:
        """Upper bound of the time from first attempt to ``dead``, ignoring queueing."""
        return (
            sum(
                self.quick_budget_seconds + self.countdown_ceiling(n, throttled=True)
                for n in range(self.max_retries)
            )
            + self.quick_budget_seconds
        )


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
    credential_problems: tuple[str, ...] = ()

    def app(self, name: str | None) -> AppSettings:
        """The app called ``name`` (default app for ``None``); ``KeyError`` names the known ones."""
        key = name or self.default_app
        try:
            return self.apps[key]
        except KeyError:
            raise KeyError(f"unknown app {key!r}; configured apps: {sorted(self.apps)}") from None

    def require_credentials(self) -> None:
        """Raise :class:`ConfigurationError` unless every configured app can actually send."""
        if self.credential_problems:
            raise ConfigurationError(list(self.credential_problems))

    def describe(self) -> dict[str, Any]:
        """The effective configuration with secrets masked, for ``pushworker check``."""
        apps = {}
        for app in self.apps.values():
            apps[app.name] = {
                "alias_prefix": app.alias_prefix,
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
            "retry": vars(self.retry) | {"worst_case_seconds": self.retry.worst_case_seconds()},
            "enqueue_budget_seconds": self.enqueue_budget_seconds,
            "breaker_cooldown_seconds": self.breaker_cooldown_seconds,
            "enqueue_outbox": self.enqueue_outbox,
            "visibility_timeout": self.visibility_timeout,
            "stale_after_seconds": self.stale_after_seconds,
            "max_crashes": self.max_crashes,
            "claim_lease_seconds": self.claim_lease_seconds,
            "relay_interval_seconds": self.relay_interval_seconds,
            "sweep_interval_seconds": self.sweep_interval_seconds,
            "nickname_resolver": self.nickname_resolver,
        }


class _Reader:
    """Typed getters over one mapping that collect problems instead of raising at the first."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        self.source = source
        self.problems: list[str] = []

    def text(self, key: str, default: str = "") -> str:
        value = self.source.get(key, default)
        if not isinstance(value, str):
            self.problems.append(f"{key} must be a string, got {type(value).__name__}")
            return default
        return value.strip()

    def number(self, key: str, default: float, *, minimum: float, cast: Callable = float) -> Any:
        raw = self.source.get(key)
        if raw is None or raw == "":
            return cast(default)
        try:
            value = cast(raw)
        except (TypeError, ValueError):
            self.problems.append(f"{key} must be a number, got {raw!r}")
            return cast(default)
        if value < minimum:
            self.problems.append(f"{key} must be at least {minimum}, got {value}")
            return cast(default)
        return value

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key, default) or default
        if value not in allowed:
            self.problems.append(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
            return default
        return value

    def url(self, key: str, default: str) -> str:
        value = self.text(key, default) or default
        if not value.startswith(("http://", "https://")):
            self.problems.append(f"{key} must be an http:// or https:// URL, got {value!r}")
            return default
        return value.rstrip("/")


_PLATFORM_KEYS = {
    "android": ("MIPUSH_ANDROID_APP_SECRET", "MIPUSH_ANDROID_PACKAGE_NAME"),
    "ios": ("MIPUSH_IOS_APP_SECRET", "MIPUSH_IOS_BUNDLE_ID"),
}
_DICT_KEYS = {"android": ("APP_SECRET", "PACKAGE_NAME"), "ios": ("APP_SECRET", "BUNDLE_ID")}
_KNOWN_APP_KEYS = {"ALIAS_PREFIX", "ANDROID", "IOS"}
_KNOWN_TOP_KEYS = {"APPS", "DEFAULT_APP", "RETENTION"}  # RETENTION: pushworker/retention.py


def _platform(
    names: tuple[str, str], secret: str, package: str, problems: list[str], cred_problems: list[str]
) -> PlatformCredentials | None:
    """One platform's credentials; ``names`` are how the secret and package keys are reported."""
    secret_key, package_key = names
    if not secret and not package:
        return None
    if not secret:
        cred_problems.append(f"{secret_key} is missing (its package/bundle id {package!r} is set)")
    if not package:
        problems.append(f"{package_key} is missing (the app secret for it is set)")
        return None
    return PlatformCredentials(Secret(secret), package)


def _apps_from_env(env: _Reader, cred_problems: list[str]) -> dict[str, AppSettings]:
    name = env.text("PUSHWORKER_APP_NAME", "qqc") or "qqc"
    platforms = {}
    for platform, (secret_key, package_key) in _PLATFORM_KEYS.items():
        platforms[platform] = _platform(
            (secret_key, package_key),
            env.text(secret_key),
            env.text(package_key),
            env.problems,
            cred_problems,
        )
    return {
        name: AppSettings(
            name=name,
            alias_prefix=env.text("PUSHWORKER_ALIAS_PREFIX", "QQC_"),
            android=platforms["android"],
            ios=platforms["ios"],
        )
    }


def _apps_from_dict(
    spec: Mapping[str, Any], problems: list[str], cred_problems: list[str]
) -> dict[str, AppSettings]:
    for key in set(spec) - _KNOWN_TOP_KEYS:
        problems.append(
            f"PUSHWORKER[{key!r}] is not a known key ({', '.join(sorted(_KNOWN_TOP_KEYS))})"
        )
    apps = {}
    app_specs = spec.get("APPS") or {}
    if not isinstance(app_specs, Mapping):
        problems.append("PUSHWORKER['APPS'] must be a dict")
        app_specs = {}
    for name, app in app_specs.items():
        where = f"PUSHWORKER['APPS'][{name!r}]"
        if not isinstance(app, Mapping):
            problems.append(f"{where} must be a dict")
            continue
        for key in set(app) - _KNOWN_APP_KEYS:
            problems.append(
                f"{where}[{key!r}] is not a known key ({', '.join(sorted(_KNOWN_APP_KEYS))})"
            )
        platforms = {}
        for platform, (secret_key, package_key) in _DICT_KEYS.items():
            part = app.get(platform.upper()) or {}
            part_where = f"{where}[{platform.upper()!r}]"
            if not isinstance(part, Mapping):
                problems.append(f"{part_where} must be a dict")
                part = {}
            for key in set(part) - {secret_key, package_key}:
                problems.append(
                    f"{part_where}[{key!r}] is not a known key ({secret_key}, {package_key})"
                )
            platforms[platform] = _platform(
                (f"{part_where}[{secret_key!r}]", f"{part_where}[{package_key!r}]"),
                str(part.get(secret_key, "")),
                str(part.get(package_key, "")),
                problems,
                cred_problems,
            )
        apps[name] = AppSettings(
            name=name,
            alias_prefix=str(app.get("ALIAS_PREFIX", "")),
            android=platforms["android"],
            ios=platforms["ios"],
        )
    if not apps:
        problems.append("PUSHWORKER['APPS'] must name at least one app")
    return apps


def load(
    environ: Mapping[str, str] | None = None, app_spec: Mapping[str, Any] | None = None
) -> Settings:
    """Read and check the configuration; raise :class:`ConfigurationError` listing every problem.

    ``app_spec`` is a host project's ``PUSHWORKER`` dict (several apps); without it the single app
    comes from the ``MIPUSH_*`` variables. Missing credentials do not raise here, because web
    processes only enqueue and need no Xiaomi secret; workers call
    :meth:`Settings.require_credentials` at start-up.
    """
    env = _Reader(os.environ if environ is None else environ)
    cred_problems: list[str] = []
    if app_spec is not None:
        apps = _apps_from_dict(app_spec, env.problems, cred_problems)
        default_app = str(app_spec.get("DEFAULT_APP") or next(iter(apps), ""))
    else:
        apps = _apps_from_env(env, cred_problems)
        default_app = next(iter(apps))
    for app in apps.values():
        if app.android is None and app.ios is None:
            cred_problems.append(
                f"app {app.name!r} has no credentials: set MIPUSH_ANDROID_APP_SECRET and "
                "MIPUSH_ANDROID_PACKAGE_NAME and/or MIPUSH_IOS_APP_SECRET and MIPUSH_IOS_BUNDLE_ID"
            )
    if apps and default_app not in apps:
        env.problems.append(f"DEFAULT_APP {default_app!r} is not one of the apps {sorted(apps)}")

    retry = RetryPolicy(
        quick_attempts=env.number("PUSHWORKER_QUICK_ATTEMPTS", 3, minimum=1, cast=int),
        quick_budget_seconds=env.number("PUSHWORKER_QUICK_BUDGET", 2.0, minimum=0),
        quick_base_seconds=env.number("PUSHWORKER_QUICK_BASE", 0.2, minimum=0),
        base_seconds=env.number("PUSHWORKER_RETRY_BASE", 2.0, minimum=0),
        throttled_base_seconds=env.number("PUSHWORKER_RETRY_THROTTLED_BASE", 10.0, minimum=0),
        cap_seconds=env.number("PUSHWORKER_RETRY_CAP", 30.0, minimum=0),
        max_retries=env.number("PUSHWORKER_RETRY_MAX", 8, minimum=0, cast=int),
    )
    visibility_timeout = env.number("PUSHWORKER_VISIBILITY_TIMEOUT", 60, minimum=1, cast=int)
    connect_timeout = env.number("MIPUSH_CONNECT_TIMEOUT", 3.0, minimum=0.01)
    read_timeout = env.number("MIPUSH_READ_TIMEOUT", 5.0, minimum=0.01)
    longest_run = (
        retry.quick_attempts * (connect_timeout + read_timeout) + retry.quick_budget_seconds
    )
    if retry.cap_seconds * 2 > visibility_timeout:
        env.problems.append(
            f"PUSHWORKER_RETRY_CAP ({retry.cap_seconds:g} s) must stay at most half of "
            f"PUSHWORKER_VISIBILITY_TIMEOUT ({visibility_timeout} s): a longer countdown is "
            "redelivered by Redis before it is due"
        )
    # A retried message waits out its countdown unacknowledged, then runs: all of it must end
    # before Redis hands the message out again, or a second copy runs beside the first.
    claim_lease = longest_run + 2
    if retry.cap_seconds + claim_lease >= visibility_timeout:
        env.problems.append(
            f"PUSHWORKER_RETRY_CAP ({retry.cap_seconds:g} s) plus one task run with margin "
            f"({claim_lease:g} s = PUSHWORKER_QUICK_ATTEMPTS × (MIPUSH_CONNECT_TIMEOUT + "
            "MIPUSH_READ_TIMEOUT) + PUSHWORKER_QUICK_BUDGET + 2 s) must stay below "
            f"PUSHWORKER_VISIBILITY_TIMEOUT ({visibility_timeout} s)"
        )
    settings = Settings(
        apps=apps,
        default_app=default_app,
        production_url=env.url("MIPUSH_PRODUCTION_URL", XIAOMI_PRODUCTION_URL),
        sandbox_url=env.url("MIPUSH_SANDBOX_URL", XIAOMI_SANDBOX_URL),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retry=retry,
        enqueue_budget_seconds=env.number("PUSHWORKER_ENQUEUE_BUDGET_MS", 250, minimum=10) / 1000,
        breaker_cooldown_seconds=env.number("PUSHWORKER_BREAKER_COOLDOWN", 5.0, minimum=0),
        enqueue_outbox=env.choice("PUSHWORKER_ENQUEUE_OUTBOX", "always", ("always", "on-failure")),
        visibility_timeout=visibility_timeout,
        stale_after_seconds=env.number(
            "PUSHWORKER_STALE_AFTER", max(120, 2 * visibility_timeout), minimum=1, cast=int
        ),
        max_crashes=env.number("PUSHWORKER_MAX_CRASHES", 3, minimum=1, cast=int),
        claim_lease_seconds=claim_lease,
        relay_interval_seconds=env.number("PUSHWORKER_RELAY_INTERVAL", 2.0, minimum=0.1),
        sweep_interval_seconds=env.number("PUSHWORKER_SWEEP_INTERVAL", 10.0, minimum=0.1),
        nickname_resolver=env.text(
            "PUSHWORKER_NICKNAME_RESOLVER", "pushworker.nicknames.from_user_model"
        )
        or "pushworker.nicknames.from_user_model",
        unknown_visitor_name=env.text("PUSHWORKER_UNKNOWN_VISITOR_NAME", "访客") or "访客",
        credential_problems=tuple(cred_problems),
    )
    if env.problems:
        raise ConfigurationError(env.problems)
    return settings


@lru_cache(maxsize=1)
def get() -> Settings:
    """The process's settings, loaded on first use from the environment and ``PUSHWORKER``."""
    from django.conf import settings as django_settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        app_spec = getattr(django_settings, "PUSHWORKER", None)
    except ImproperlyConfigured:  # used outside Django (the emulator, a bare script)
        app_spec = None
    return load(app_spec=app_spec)
