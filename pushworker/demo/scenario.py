"""The demo's scenario: owners and their devices, the events, and what each event must become."""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass

# Faults the emulator answers the flaky owner's first sends with; each costs one more request.
INJECTED_FAULTS = ("http500", "10002")

VISITOR_NAMES = ("小明", "阿花", "李雷", "韩梅梅", "Lucy", None)  # None: the worker resolves a name
GOODS = (
    ("g-11", "青花瓷碗"),
    ("g-12", "手工皂 · 薰衣草"),
    ("g-13", "复古胶片相机 Canonet QL17"),
    ("g-14", "宜兴紫砂壶（朱泥，容量约两百毫升，带原装木盒与收藏证书）"),
)


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


def make_owners() -> dict[str, Owner]:
    """One owner per case, keyed by case; registration ids are new on every call."""

    # Made up per run; Xiaomi's would be ~44 base64 characters too.
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
    event_id: str = ""
    enqueued_at: float = 0.0  # time.time() just before .delay()
    enqueue_seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.visitor_id == self.owner.user_id:
            self.expected = "suppressed"  # an owner viewing their own goods is not news
        elif not self.owner.devices:
            self.expected = "failed"
        elif self.owner.stale:
            # Xiaomi's 20301 for the first event deactivates the device; later ones find none.
            self.expected = "failed"
        else:
            self.expected = "sent"


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
