"""The daily-summary kind: one push a day that says what a recipient's chosen summary held back.

``send_daily_summary(user_id, day, counts, app_name=None, event_id=None)``. A recipient who chose
``daily_summary`` for a kind gets none of its events at once (they end ``suppressed``, reason
``summary_pending``); once a day, at the recipient's hour in their time zone, the summary
scheduler (``pushworker.delivery.summaries``) counts those rows and makes one event of this kind,
"今天有 23 位用户浏览了您的 5 件商品", with a deep link in ``extra.link``. Its event id is derived
from the app, the recipient and the local date (:func:`event_id_of`), so a scheduler that runs
twice, or dies half-way and runs again, makes one summary per recipient and day.

When a summary is due (:func:`due`) is pure arithmetic here, shared by the scheduler and by
whoever saves a recipient's choice: inside the chosen local hour, outside the recipient's quiet
hours, at an offset within the hour that the recipient's key hashes to, so the summaries of a
popular hour are spread over it in slots (one per run of the scheduler).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pushworker.events import registry
from pushworker.events import validators as check
from pushworker.events.base import Event, KindPolicy, OnQuota, Priority
from pushworker.events.notification import (
    DESCRIPTION_MAX_UNITS,
    Notification,
    notify_id,
    shorten,
)
from pushworker.events.registry import register
from pushworker.events.validators import InvalidEventError

TITLE = "今日消息汇总"
OPENING = "今天有 "  # + each summarized kind's clause (``Event.summarize``), joined by "，"
DAILY_SUMMARY_TYPE = "4"  # the app opens its summary screen for this extra.type
TIME_TO_LIVE_MS = 12 * 3600 * 1000  # tomorrow's summary replaces it
NAMESPACE = uuid.UUID("0b6a4f0e-3d52-5c8e-9a55-5f6d1c2a7e41")  # of the summaries' event ids
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")
COUNTS = ("events", "subjects", "people")
Counts = dict[str, dict[str, int]]  # kind -> {"events": n, "subjects": n, "people": n}


def event_id_of(app_name: str, user_id: str, day: date | str) -> str:
    """The one event id of a recipient's summary of ``day`` (its local date): a second run of
    the scheduler makes the same id, which the row's unique event id turns into no second row."""
    return str(uuid.uuid5(NAMESPACE, f"{app_name}\0{user_id}\0{day}"))


def _day(argument: str, value: Any) -> str:
    if isinstance(value, date):
        value = value.isoformat()
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise InvalidEventError(argument, f"must be a date YYYY-MM-DD, got {value!r:.80}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise InvalidEventError(argument, f"is not a date: {value!r}") from None
    return value


def _counts(argument: str, value: Any) -> Counts:
    """``{kind: {"events": n, "subjects": n, "people": n}}``, or the same as JSON text (the
    command line's form)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidEventError(argument, "must be a JSON object of kinds") from None
    if not isinstance(value, Mapping) or not value:
        raise InvalidEventError(argument, "must be a non-empty object of kinds to their counts")
    found: Counts = {}
    for kind, numbers in value.items():
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise InvalidEventError(argument, f"has a key that is not a kind name: {kind!r:.80}")
        if not isinstance(numbers, Mapping) or set(numbers) != set(COUNTS):
            raise InvalidEventError(f"{argument}[{kind!r}]", f"must have exactly {COUNTS}")
        for name in COUNTS:
            n = numbers[name]
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10**9:
                raise InvalidEventError(f"{argument}[{kind!r}].{name}", "must be a count")
        found[kind] = {name: numbers[name] for name in COUNTS}
    return found


@register
@dataclass(frozen=True)
class DailySummary(Event):
    """What a recipient's ``daily_summary`` preferences held back today, in one push."""

    kind: ClassVar[str] = "daily_summary"
    arguments: ClassVar[dict[str, Any]] = {
        "user_id": check.identifier,
        "day": _day,
        "counts": _counts,
    }
    recipient: ClassVar[str] = "user_id"
    subject: ClassVar[str] = "day"
    # Many at one hour: they join the backlog and share multi_messages requests. Worth sending for
    # some hours (an outage at the hour); tomorrow's quota would carry yesterday's news. A
    # recipient does not choose about it: it is what their choice sends.
    policy: ClassVar[KindPolicy] = KindPolicy(
        priority=Priority.BULK,
        lifetime=timedelta(hours=6),
        quota_exhausted=OnQuota.FAIL,
        chosen_by_recipient=False,
    )

    event_id: str
    user_id: str
    day: str
    counts: Counts
    app_name: str | None = None

    def description(self) -> str:
        kinds = registry.kinds()
        clauses = [
            kinds[kind].summarize(n["events"], n["subjects"], n["people"])
            for kind, n in sorted(self.counts.items())
            if kind in kinds and n["events"]
        ]
        return shorten(OPENING + "，".join(clauses), DESCRIPTION_MAX_UNITS)

    def summary(self) -> str:
        held = sum(n["events"] for n in self.counts.values())
        return f"daily summary of {self.day} to user {self.user_id}: {held} events held back"

    def notification(self, settings: Any, nickname: str | None = None) -> Notification:
        link = settings.app(self.app_name).policy.summary_link.format(day=self.day)
        return Notification(
            title=TITLE,
            description=self.description(),
            extra={"type": DAILY_SUMMARY_TYPE, "day": self.day, "link": link},
            time_to_live_ms=TIME_TO_LIVE_MS,
            notify_id=notify_id(self.event_id),
        )


# -- when a summary is due ----------------------------------------------------------------------

Quiet = tuple[time, time] | None


def _quiet_spans(day: date, quiet: Quiet) -> list[tuple[datetime, datetime]]:
    """The quiet windows (naive local wall time) that may overlap ``day``'s hours."""
    if quiet is None:
        return []
    start, end = quiet
    spans = []
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        until = d if start < end else d + timedelta(days=1)
        spans.append((datetime.combine(d, start), datetime.combine(until, end)))
    return spans


def _free(begin: datetime, end: datetime, quiet: Quiet) -> list[tuple[datetime, datetime]]:
    """[begin, end) less the quiet windows, as spans in order."""
    free = [(begin, end)]
    for q_start, q_end in _quiet_spans(begin.date(), quiet):
        free = [
            piece
            for a, b in free
            for piece in ((a, min(b, q_start)), (max(a, q_end), b))
            if piece[0] < piece[1]
        ]
    return free


def slot_key(app_name: str, user_id: str) -> int:
    """A stable number per recipient: which slot of the hour their summary takes."""
    digest = hashlib.sha256(f"{app_name}\0{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def due(day: date, hour: int, zone: ZoneInfo, quiet: Quiet, slot: timedelta, key: int) -> datetime:
    """When the summary of ``day`` is due (aware, in ``zone``).

    In the local hour ``hour``, outside the quiet hours; the free part of the hour is cut into
    slots of ``slot`` (the scheduler's interval) and ``key`` picks one, so one popular hour's
    summaries are spread over it. An hour entirely quiet moves to the hour after the quiet hours
    end (a summary never rings inside them).
    """
    begin = datetime.combine(day, time(hour))
    free = _free(begin, begin + timedelta(hours=1), quiet)
    if not free:
        after = max(b for a, b in _quiet_spans(day, quiet) if a <= begin < b)
        free = _free(after, after + timedelta(hours=1), quiet)
    length = sum((b - a for a, b in free), timedelta())
    slots = max(1, int(length / slot)) if slot > timedelta(0) else 1
    offset = (length / slots) * (key % slots)
    for a, b in free:
        if offset < b - a:
            return (a + offset).replace(tzinfo=zone)
        offset -= b - a
    return free[-1][0].replace(tzinfo=zone)  # unreachable: offset < length


def next_due(
    now: datetime,
    hour: int,
    zone: ZoneInfo,
    quiet: Quiet,
    slot: timedelta,
    key: int,
    *,
    after: date | None = None,
) -> tuple[date, datetime]:
    """The first summary (its local date, its due time) due after ``now``, of a local date later
    than ``after`` (the last day summarized): never two summaries of one day."""
    today = now.astimezone(zone).date()
    for shift in range(-1, 3):
        day = today + timedelta(days=shift)
        if after is not None and day <= after:
            continue
        moment = due(day, hour, zone, quiet, slot, key)
        if moment > now:
            return day, moment
    day = max(today, after or today) + timedelta(days=1)
    return day, due(day, hour, zone, quiet, slot, key)
