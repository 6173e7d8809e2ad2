"""One app's delivery policy (``PUSHWORKER['APPS'][name]['POLICY']``): its typed shape and parser.

The policy (:mod:`pushworker.delivery.policy`) runs in the worker before any Xiaomi call. Its
settings are a
dict in a host project, or ``"off"``, or in the standalone service's ``PUSHWORKER_POLICY`` a
string ``"DAILY_CAP=5,DEDUP_WINDOW=600,QUIET_HOURS=22:00-08:00,CHANNEL.goods_visit=ch1"``. The
parser answers every problem as ``"KEY: message"``; :mod:`pushworker.conf.parse` names the dict.

Three keys are about what recipients may choose (docs/policy.md, "Recipients' preferences"):
``UNMUTABLE`` (the kinds a recipient cannot turn off or summarize: by default the urgent ones),
``SUMMARY_HOUR`` (the local hour of the daily summary for recipients who chose none) and
``SUMMARY_LINK`` (the deep link a summary carries in ``extra.link``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pushworker.events import registry
from pushworker.events.base import Priority

QUIET_MODES = ("time_to_send", "hold", "drop")
DEVICE_CHOICES = ("all", "newest_per_platform")
NOTIFY_ID_CHOICES = ("event", "subject")
KEYS = (
    "DEDUP_WINDOW",
    "DAILY_CAP",
    "TIMEZONE",
    "QUIET_HOURS",
    "QUIET_HOURS_MODE",
    "NOTIFY_ID",
    "CHANNELS",
    "TIME_TO_LIVE",
    "DEVICES",
    "UNMUTABLE",
    "SUMMARY_HOUR",
    "SUMMARY_LINK",
)
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_CHANNEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# A deep link travels as one extra value: printable ASCII without spaces, at most Xiaomi's 1,024.
_LINK = re.compile(r"[\x21-\x7e]{1,1024}")
DEFAULT_SUMMARY_LINK = "app://daily-summary?day={day}"


def choosable_kinds() -> list[str]:
    """The kinds whose events a recipient may turn off or summarize (the summary itself is not)."""
    return [name for name, kind in registry.kinds().items() if kind.policy.chosen_by_recipient]


def urgent_kinds() -> frozenset[str]:
    """``UNMUTABLE``'s default: the urgent kinds a recipient can choose about."""
    kinds = registry.kinds()
    return frozenset(k for k in choosable_kinds() if kinds[k].policy.priority == Priority.URGENT)


@dataclass(frozen=True)
class Policy:
    """What an app's policy holds back or changes; the defaults are the issue's (#11)."""

    dedup_window: int = 600  # seconds; the same kind's dedup_key is sent once within it (0: off)
    daily_cap: int = 5  # pushes per recipient per day in ``timezone`` (0: no cap)
    timezone: str = "Asia/Shanghai"
    quiet_hours: tuple[time, time] | None = None  # (start, end) in ``timezone``; None: off
    quiet_hours_mode: str = "time_to_send"
    notify_id: str = "event"  # "subject": one per (recipient, subject), repeats replace
    channels: Mapping[str, str] = field(default_factory=dict)  # kind -> extra.channel_id
    time_to_live: int | None = None  # seconds; None keeps each kind's own
    devices: str = "all"
    # Kinds a recipient cannot turn off, summarize or quiet: always sent as the app's policy says.
    unmutable: frozenset[str] = field(default_factory=urgent_kinds)
    summary_hour: int = 20  # local hour of the daily summary when the recipient chose none
    summary_link: str = DEFAULT_SUMMARY_LINK  # extra.link of a summary; {day} is its local date

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def describe(self) -> dict[str, Any]:
        quiet = self.quiet_hours
        return vars(self) | {
            "quiet_hours": f"{quiet[0]:%H:%M}-{quiet[1]:%H:%M}" if quiet else None,
            "channels": dict(self.channels),
            "unmutable": sorted(self.unmutable),
        }


OFF = Policy(dedup_window=0, daily_cap=0)  # "off": every event sent, as before the policy


def parse(raw: Any) -> tuple[Policy, list[str]]:
    """The policy ``raw`` describes (defaults where a value is bad) and its problems."""
    if raw is None or raw == "":
        return Policy(), []
    if isinstance(raw, str) and raw.strip().lower() == "off":
        return OFF, []
    if isinstance(raw, str):
        raw = _pairs(raw)
    if not isinstance(raw, Mapping):
        return Policy(), [f'must be a dict or "off", got {type(raw).__name__}']
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in KEYS:
            problems.append(f"{key}: is not a known key ({', '.join(KEYS)})")
            continue
        try:
            values[key.lower()] = _READERS[key](value)
        except ValueError as error:
            problems.append(f"{key}: {error}")
    return replace(Policy(), **values), problems


def _pairs(spec: str) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key.startswith("CHANNEL."):
            pairs.setdefault("CHANNELS", {})[key.removeprefix("CHANNEL.")] = value
        else:
            pairs[key] = value
    return pairs


def _whole(minimum: int) -> Any:
    def read(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"must be a whole number of at least {minimum}, got {value!r}")
        return value

    return read


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"must be an IANA time zone (Asia/Shanghai), got {value!r}") from None
    return str(value)


def _quiet_hours(value: Any) -> tuple[time, time] | None:
    if value in (None, "", "off"):
        return None
    start, _, end = str(value).partition("-")
    ends = [_CLOCK.fullmatch(s.strip()) for s in (start, end)]
    if not all(ends) or start.strip() == end.strip():
        raise ValueError(f'must be "HH:MM-HH:MM" (two different times) or "off", got {value!r}')
    a, b = (time(int(m.group(1)), int(m.group(2))) for m in ends if m)
    return a, b


def _choice(allowed: tuple[str, ...]) -> Any:
    def read(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return read


def _channels(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"must be a dict of event kind to channel id, got {type(value).__name__}")
    for kind, channel in value.items():
        if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
            raise ValueError(f"[{kind!r}] must be a channel id (letters, digits, . _ : -)")
    return dict(value)


def _ttl(value: Any) -> int | None:
    if value in (None, ""):
        return None
    seconds = _whole(1)(value)
    if seconds > 14 * 24 * 3600:  # Xiaomi keeps an offline message at most two weeks
        raise ValueError(f"must be at most 1209600 seconds (14 days), got {seconds}")
    return seconds


def _kinds(value: Any) -> frozenset[str]:
    """Kind names: a list, or one string of names separated by spaces (``PUSHWORKER_POLICY``'s
    pairs are separated by commas); ``"none"`` or empty for no kind."""
    if isinstance(value, str):
        value = [] if value.strip().lower() in ("", "none") else value.split()
    if not isinstance(value, list | tuple | set | frozenset):
        raise ValueError(f"must be a list of event kinds, got {type(value).__name__}")
    known = choosable_kinds()
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a kind recipients choose about; kinds: {known}")
    return frozenset(value)


def _hour(value: Any) -> int:
    hour = _whole(0)(value)
    if hour > 23:
        raise ValueError(f"must be an hour from 0 to 23, got {hour}")
    return hour


def _link(value: Any) -> str:
    if not isinstance(value, str) or not _LINK.fullmatch(value):
        raise ValueError("must be 1 to 1024 printable ASCII characters without spaces")
    try:
        value.format(day="2026-01-01")
    except (AttributeError, KeyError, IndexError, ValueError):
        raise ValueError("may hold no placeholder but {day}") from None
    return value


_READERS = {
    "DEDUP_WINDOW": _whole(0),
    "DAILY_CAP": _whole(0),
    "TIMEZONE": _timezone,
    "QUIET_HOURS": _quiet_hours,
    "QUIET_HOURS_MODE": _choice(QUIET_MODES),
    "NOTIFY_ID": _choice(NOTIFY_ID_CHOICES),
    "CHANNELS": _channels,
    "TIME_TO_LIVE": _ttl,
    "DEVICES": _choice(DEVICE_CHOICES),
    "UNMUTABLE": _kinds,
    "SUMMARY_HOUR": _hour,
    "SUMMARY_LINK": _link,
}
