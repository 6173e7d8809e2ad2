"""The one parser of the ``PUSHWORKER`` dict: every key typed, checked, and named when wrong.

A host project writes the dict in its Django settings; the standalone service's environment fills
the same dict (:mod:`pushworker.conf.env`). Every problem goes into one list, each naming its key
as the operator wrote it, so a deployment is fixed in one pass instead of one crash at a time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pushworker.conf import policy as policy_conf
from pushworker.conf.types import (
    DEFAULT_ANONYMOUS_NICKNAME,
    XIAOMI_PRODUCTION_URL,
    XIAOMI_SANDBOX_URL,
    AppSettings,
    OutagePolicy,
    PlatformCredentials,
    Problem,
    RetryPolicy,
    Secret,
    Settings,
)
from pushworker.events import registry

Path = tuple[str, ...]
TOP_KEYS = (
    "APPS",
    "DEFAULT_APP",
    "PRODUCTION_URL",
    "SANDBOX_URL",
    "CONNECT_TIMEOUT",
    "READ_TIMEOUT",
    "QUICK_ATTEMPTS",
    "QUICK_BUDGET",
    "QUICK_BASE",
    "RETRY_BASE",
    "RETRY_THROTTLED_BASE",
    "RETRY_CAP",
    "RETRY_MAX",
    "VISIBILITY_TIMEOUT",
    "ENQUEUE_BUDGET_MS",
    "BREAKER_COOLDOWN",
    "ENQUEUE_OUTBOX",
    "ENQUEUE_COMMIT",
    "STALE_AFTER",
    "MAX_CRASHES",
    "RELAY_INTERVAL",
    "SWEEP_INTERVAL",
    "NICKNAME_RESOLVER",
    "UNKNOWN_VISITOR_NAME",
    "METRICS_PORT",
    "BATCH_SIZE",
    "BACKLOG_THRESHOLD",
    "LIFETIMES",
    "OUTAGE_FAILURES",
    "OUTAGE_PROBE_FIRST",
    "OUTAGE_PROBE_LONGEST",
    "SUMMARY_INTERVAL",
    "RATE_LIMITS",
    "RETENTION",  # read and checked by pushworker.delivery.ratelimit, .retention
    "RECEIPTS_URL",
    "RECEIPTS_TOKEN",
    "RECEIPTS_TYPES",
    "RECEIPTS_PREVIOUS_TOKEN",  # read by pushworker.conf.receipts
)
APP_KEYS = ("ALIAS_PREFIX", "ANONYMOUS_NICKNAME", "ANDROID", "IOS", "POLICY")  # policy_conf
PLATFORM_KEYS = {"ANDROID": ("APP_SECRET", "PACKAGE_NAME"), "IOS": ("APP_SECRET", "BUNDLE_ID")}
# Xiaomi's app secrets are base64-like; a space, a control or a non-ASCII character is always a
# paste or quoting mistake, and would only show up later as 21301 at Xiaomi (or not be sendable).
SECRET_SHAPE = re.compile(r"[\x21-\x7e]{1,256}")
PACKAGE_SHAPE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
APP_NAME_SHAPE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# An alias is joined with commas into Xiaomi's target list: no comma, space or control character.
ALIAS_PREFIX_SHAPE = re.compile(r"[^\s,\x00-\x1f\x7f-\x9f]{0,64}")
DOTTED_PATH_SHAPE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
NAME_SHAPE = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,64}")
A_NAME = "1 to 64 characters without control characters"
OUTBOX = ("always", re.compile("always|on-failure"), "one of always, on-failure")
COMMIT = ("durable", re.compile("durable|asynchronous"), "one of durable, asynchronous")
RESOLVER = (
    "pushworker.store.users.from_user_model",
    DOTTED_PATH_SHAPE,
    "a dotted path (a.b.func)",
)
A_PREFIX = "at most 64 characters without commas, spaces or controls"
APP_TEXT = {
    "ALIAS_PREFIX": ("QQC_", ALIAS_PREFIX_SHAPE, A_PREFIX),
    "ANONYMOUS_NICKNAME": (DEFAULT_ANONYMOUS_NICKNAME, NAME_SHAPE, A_NAME),
}


class Reader:
    """Typed getters over the dict that add problems to one list instead of raising."""

    def __init__(self, spec: Mapping[str, Any], labels: Mapping[Path, str] | None) -> None:
        self.spec = spec
        self.labels = labels or {}
        self.textual = labels is not None  # environment values are strings to be converted
        self.problems: list[Problem] = []

    def name(self, *path: str) -> str:
        return self.labels.get(path) or "PUSHWORKER" + "".join(f"[{p!r}]" for p in path)

    def problem(self, path: Path, message: str, *, credentials: bool = False) -> None:
        self.problems.append(Problem(self.name(*path), message, credentials))

    def raw(self, path: Path) -> Any:
        node: Any = self.spec
        for part in path:
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node

    def mapping(self, path: Path, known: tuple[str, ...]) -> Mapping[str, Any]:
        """A nested dict (``{}`` when unset), its unknown keys reported one by one."""
        value = self.raw(path)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a dict, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in known:
                self.problem((*path, str(key)), f"is not a known key ({', '.join(known)})")
        return value

    def number(
        self, key: str, default: float, *, minimum: float, maximum=float("inf"), integer=False
    ) -> Any:
        raw, kind = self.raw((key,)), "an integer" if integer else "a number"
        cast = int if integer else float
        if raw is None:
            return cast(default)
        if isinstance(raw, str) and self.textual:
            try:
                raw = cast(raw)
            except ValueError:
                self.problem((key,), f"must be {kind}, got {raw!r}")
                return cast(default)
        if isinstance(raw, bool) or not isinstance(raw, int if integer else int | float):
            self.problem((key,), f"must be {kind}, got {type(raw).__name__} {raw!r}")
            return cast(default)
        if not minimum <= raw <= maximum:
            bound = f"at least {minimum}" if raw < minimum else f"at most {maximum}"
            self.problem((key,), f"must be {bound}, got {raw}")
            return cast(default)
        return cast(raw)

    def text(self, path: Path, default: str, shape: re.Pattern[str], what: str) -> str:
        raw = self.raw(path)
        if raw is None:
            return default
        if not isinstance(raw, str):
            self.problem(path, f"must be a string, got {type(raw).__name__}")
            return default
        if not shape.fullmatch(raw):
            self.problem(path, f"must be {what}, got {raw[:80]!r}")
            return default
        return raw

    def url(self, key: str, default: str) -> str:
        shape = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
        return self.text((key,), default, shape, "an http:// or https:// URL").rstrip("/")

    def secret(self, path: Path) -> str:
        """A secret's shape is checked, but its value never enters a problem."""
        raw = self.raw(path)
        if raw is None or raw == "":
            return ""
        if not isinstance(raw, str):
            self.problem(path, f"must be a string, got {type(raw).__name__}")
            return ""
        if not SECRET_SHAPE.fullmatch(raw):
            self.problem(
                path,
                f"must be printable ASCII without spaces, at most 256 characters (got {len(raw)} "
                "characters; the value is not shown)",
            )
            return ""
        return raw


def _platform(reader: Reader, app_path: Path, platform: str) -> PlatformCredentials | None:
    where = (*app_path, platform)
    secret_key, package_key = PLATFORM_KEYS[platform]
    reader.mapping(where, PLATFORM_KEYS[platform])
    given_secret = reader.raw((*where, secret_key)) not in (None, "")
    given_package = reader.raw((*where, package_key)) not in (None, "")
    if not given_secret and not given_package:
        return None
    secret = reader.secret((*where, secret_key))
    if not given_secret:
        reader.problem(
            (*where, secret_key), f"is missing (its {package_key} is set)", credentials=True
        )
    if not given_package:
        reader.problem((*where, package_key), f"is missing (the {secret_key} for it is set)")
        return None
    package = reader.text(
        (*where, package_key), "", PACKAGE_SHAPE, "a package name or bundle id (a.b.c)"
    )
    return PlatformCredentials(Secret(secret), package) if package else None


def _apps(reader: Reader) -> dict[str, AppSettings]:
    apps: dict[str, AppSettings] = {}
    for name in _app_names(reader):
        path = ("APPS", name)
        if not isinstance(reader.raw(path), Mapping):
            reader.problem(path, f"must be a dict, got {type(reader.raw(path)).__name__}")
            continue
        reader.mapping(path, APP_KEYS)
        prefix, nickname = (reader.text((*path, key), *APP_TEXT[key]) for key in APP_TEXT)
        android, ios = _platform(reader, path, "ANDROID"), _platform(reader, path, "IOS")
        policy, problems = policy_conf.parse(reader.raw((*path, "POLICY")))
        for problem in problems:  # named as the dict key or as PUSHWORKER_POLICY
            reader.problem((*path, "POLICY"), problem)
        app = AppSettings(name, prefix, android, ios, anonymous_nickname=nickname, policy=policy)
        named = any(reader.raw((*path, p)) for p in PLATFORM_KEYS)  # a broken one is reported
        if app.android is None and app.ios is None and not named:
            reader.problem(
                path, f"has no credentials: set {_credential_keys(reader, path)}", credentials=True
            )
        apps[name] = app
    return apps


def _app_names(reader: Reader) -> list[str]:
    value = reader.raw(("APPS",))
    if value is None or (isinstance(value, Mapping) and not value):
        reader.problem(("APPS",), "must name at least one app")
        return []
    if not isinstance(value, Mapping):
        reader.problem(("APPS",), f"must be a dict of apps, got {type(value).__name__}")
        return []
    names = []
    for name in value:
        if isinstance(name, str) and APP_NAME_SHAPE.fullmatch(name):
            names.append(name)
        else:
            reader.problem(("APPS", str(name)), "is not an app name (letters, digits, . _ -)")
    return names


def _credential_keys(reader: Reader, app_path: Path) -> str:
    names = [reader.name(*app_path, p, k) for p, keys in PLATFORM_KEYS.items() for k in keys]
    return f"{names[0]} and {names[1]} and/or {names[2]} and {names[3]}"


def parse(
    spec: Mapping[str, Any], labels: Mapping[Path, str] | None = None
) -> tuple[Settings, list[Problem]]:
    """Settings from the dict (defaults where a value is bad) and every problem found.

    ``labels`` maps a key's path to the environment variable that filled it; without it keys are
    named as dict keys (``PUSHWORKER['RETRY_CAP']``).
    """
    reader = Reader(spec, labels)
    if not isinstance(spec, Mapping):
        reader.problem((), f"must be a dict, got {type(spec).__name__}")
        reader.spec = spec = {}
    reader.mapping((), TOP_KEYS)
    apps = _apps(reader)
    default_app = reader.text(("DEFAULT_APP",), next(iter(apps), ""), APP_NAME_SHAPE, "an app")
    if apps and default_app not in apps:
        reader.problem(("DEFAULT_APP",), f"{default_app!r} is not one of the apps {sorted(apps)}")
    number = reader.number
    retry = RetryPolicy(
        quick_attempts=number("QUICK_ATTEMPTS", 3, minimum=1, integer=True),
        quick_budget_seconds=number("QUICK_BUDGET", 2.0, minimum=0),
        quick_base_seconds=number("QUICK_BASE", 0.2, minimum=0),
        base_seconds=number("RETRY_BASE", 2.0, minimum=0),
        throttled_base_seconds=number("RETRY_THROTTLED_BASE", 10.0, minimum=0),
        cap_seconds=number("RETRY_CAP", 30.0, minimum=0),
        # Unset: an event retries until its kind's lifetime ends, however many failures.
        max_retries=None
        if reader.raw(("RETRY_MAX",)) is None
        else number("RETRY_MAX", 0, minimum=0, integer=True),
    )
    visibility_timeout = number("VISIBILITY_TIMEOUT", 60, minimum=1, integer=True)
    connect_timeout = number("CONNECT_TIMEOUT", 3.0, minimum=0.01)
    read_timeout = number("READ_TIMEOUT", 5.0, minimum=0.01)
    # A retried message waits out its countdown unacknowledged, then runs: all of it must end
    # before Redis hands the message out again, or a second copy runs beside the first.
    claim_lease = retry.quick_attempts * (connect_timeout + read_timeout)
    claim_lease += retry.quick_budget_seconds + 2
    _check_timing(reader, retry, visibility_timeout, claim_lease)
    settings = Settings(
        apps=apps,
        default_app=default_app,
        production_url=reader.url("PRODUCTION_URL", XIAOMI_PRODUCTION_URL),
        sandbox_url=reader.url("SANDBOX_URL", XIAOMI_SANDBOX_URL),
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retry=retry,
        enqueue_budget_seconds=number("ENQUEUE_BUDGET_MS", 250, minimum=10) / 1000,
        breaker_cooldown_seconds=number("BREAKER_COOLDOWN", 5.0, minimum=0),
        enqueue_outbox=reader.text(("ENQUEUE_OUTBOX",), *OUTBOX),
        enqueue_commit=reader.text(("ENQUEUE_COMMIT",), *COMMIT),
        visibility_timeout=visibility_timeout,
        stale_after_seconds=number(
            "STALE_AFTER", max(120, 2 * visibility_timeout), minimum=1, integer=True
        ),
        max_crashes=number("MAX_CRASHES", 3, minimum=1, integer=True),
        claim_lease_seconds=claim_lease,
        relay_interval_seconds=number("RELAY_INTERVAL", 2.0, minimum=0.1),
        sweep_interval_seconds=number("SWEEP_INTERVAL", 10.0, minimum=0.1),
        nickname_resolver=reader.text(("NICKNAME_RESOLVER",), *RESOLVER),
        unknown_visitor_name=reader.text(("UNKNOWN_VISITOR_NAME",), "访客", NAME_SHAPE, A_NAME),
        metrics_port=number("METRICS_PORT", 0, minimum=0, integer=True),  # 0: no /metrics
        batch_size=number("BATCH_SIZE", 200, minimum=1, maximum=1000, integer=True),
        backlog_threshold=number("BACKLOG_THRESHOLD", 20, minimum=0, integer=True),
        # The daily summaries' scheduler runs this often; an hour is cut into slots this long.
        summary_interval_seconds=number("SUMMARY_INTERVAL", 300.0, minimum=1, maximum=3600),
        lifetimes=_lifetimes(reader),
        outage=OutagePolicy(
            failures=number("OUTAGE_FAILURES", 5, minimum=1, integer=True),
            first_seconds=number("OUTAGE_PROBE_FIRST", 1.0, minimum=0.01),
            longest_seconds=number("OUTAGE_PROBE_LONGEST", 30.0, minimum=0.01),
            probe_seconds=connect_timeout + read_timeout + 1,
        ),
        credential_problems=tuple(str(p) for p in reader.problems if p.credentials),
    )
    return settings, reader.problems


def _lifetimes(reader: Reader) -> dict[str, float]:
    """``LIFETIMES``: seconds per kind, as a dict or ``"goods_visit=1800,order_shipped=86400"``."""
    raw = reader.raw(("LIFETIMES",))
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        pairs = [part.partition("=") for part in raw.split(",") if part.strip()]
        if any(not sep for _, sep, _ in pairs):
            reader.problem(("LIFETIMES",), "must be kind=seconds pairs separated by commas")
            return {}
        raw = {kind.strip(): value.strip() for kind, _, value in pairs}
    if not isinstance(raw, Mapping):
        reader.problem(("LIFETIMES",), f"must be a dict of kinds, got {type(raw).__name__}")
        return {}
    known = registry.kinds()
    found: dict[str, float] = {}
    for kind, value in raw.items():
        if kind not in known:
            reader.problem(("LIFETIMES", str(kind)), f"is not a kind; kinds: {sorted(known)}")
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = float("nan")
        if not seconds > 0 or seconds == float("inf"):
            reader.problem(
                ("LIFETIMES", kind), f"must be a number of seconds above 0, not {value!r}"
            )
            continue
        found[kind] = seconds
    return found


def _check_timing(
    reader: Reader, retry: RetryPolicy, visibility_timeout: int, claim_lease: float
) -> None:
    vt = reader.name("VISIBILITY_TIMEOUT")
    # A drain makes no new request after RETRY_CAP seconds and ends within one lease more: all of
    # it must end before Redis hands its message out again, or a second copy runs beside it.
    if retry.cap_seconds + claim_lease >= visibility_timeout:
        run = " + ".join(reader.name(k) for k in ("CONNECT_TIMEOUT", "READ_TIMEOUT"))
        reader.problem(
            ("RETRY_CAP",),
            f"({retry.cap_seconds:g} s) plus one task run with margin ({claim_lease:g} s = "
            f"{reader.name('QUICK_ATTEMPTS')} × ({run}) + {reader.name('QUICK_BUDGET')} + 2 s) "
            f"must stay below {vt} ({visibility_timeout} s)",
        )
