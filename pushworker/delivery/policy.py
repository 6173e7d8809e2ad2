"""The delivery policy: what the worker holds back, delays or changes before any Xiaomi call.

Per app (``APPS[name]['POLICY']``, :mod:`pushworker.conf.policy`), in this order:

- **The recipient's preferences** (``store.preferences``, read once per run): a kind they turned
  ``off`` ends ``suppressed`` with reason ``preference_off``; a kind they chose to have in a
  ``daily_summary`` ends ``suppressed`` with reason ``summary_pending`` (the summary reports it).
  Kinds the app declares ``UNMUTABLE`` (by default the urgent ones) ignore both, and the
  recipient's quiet hours too.
- **Quiet hours** (off by default): the recipient's own, in their time zone, else the app's
  ``QUIET_HOURS``. An event inside the window is carried to Xiaomi with ``time_to_send`` at the
  window's end, or held by our own schedule (the row waits until the window ends, spending no
  retry), or dropped (``suppressed``, reason ``recipient_quiet_hours`` or ``quiet_hours``), as the
  app's ``QUIET_HOURS_MODE`` says.
- **Dedup**: a kind's ``dedup_key`` (for a goods visit: owner, visitor, goods) is sent once within
  ``DEDUP_WINDOW``; the others end ``suppressed`` with reason ``duplicate``.
- **Daily cap**: kinds that declare ``daily_capped`` reach one recipient at most ``DAILY_CAP`` times
  a day in the app's ``TIMEZONE``; the rest end ``suppressed`` with reason ``daily_cap``.
- **Digest**: the next push that goes out says what those held-back rows were (the kind's
  ``digest``), once: it counts the rows held since the recipient's last push.

Redis (the broker's, as for the rate limit) answers fast and atomically; the database is the
record. After Redis restarts empty: a missing day counter is re-seeded from the database's rows
admitted today before anything is admitted (no burst past the cap), and a dedup key Redis does
not know is confirmed against the database's sent rows (no repeat). Without Redis at all, the
database alone answers (correct, but two workers racing may both admit). The database's answers
come from one run's reads of recent rows (:class:`pushworker.delivery.recent.Recent`), whatever
the run's size.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

import redis
from django.utils import timezone

from pushworker.conf.policy import Policy
from pushworker.conf.types import AppSettings
from pushworker.delivery import ratelimit
from pushworker.delivery.recent import Recent
from pushworker.events import notification
from pushworker.events.base import Event
from pushworker.store.deliveries import Failure
from pushworker.store.models import Delivery, PushDevice
from pushworker.store.preferences import DAILY_SUMMARY, NONE, OFF, Choices

log = logging.getLogger("pushworker.policy")

# Every reason the policy ends a delivery ``suppressed`` with (its ``error_category``): the
# recipient's choices first, then the app's policy. The admin and ``pushworker stats`` count them.
REASONS = (
    "preference_off",
    "summary_pending",
    "recipient_quiet_hours",
    "quiet_hours",
    "duplicate",
    "daily_cap",
)
_PREFIX = "pushworker:policy"
_DAY_SECONDS = 24 * 3600

# KEYS[1]: the set of event ids admitted for one recipient, kind and local day.
# ARGV: event id, cap, ttl (s), "1" when the database's seeds follow, the seeds.
# Answers 1 (admitted, or admitted before), 0 (over the cap) or -1 (no set: send the seeds).
# The marker "-" makes a seeded empty day known, so only a set Redis lost is seeded again.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[4] ~= '1' then return -1 end
  redis.call('SADD', KEYS[1], '-')
  for i = 5, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) - 1 >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Decision:
    """Send (at ``send_at`` when set), hold back for good (``held``), or come back in ``wait`` s
    (for the quiet hours ``quiet`` names: the app's or the recipient's)."""

    held: Failure | None = None
    wait: float | None = None
    send_at: datetime | None = None
    quiet: str = "quiet_hours"


def clock() -> datetime:
    """Now; tests replace it to simulate a day (``monkeypatch.setattr(policy, "clock", ...)``)."""
    return timezone.now()


def admit(
    event: Event, delivery: Delivery, app: AppSettings, seen: Recent, chosen: Choices = NONE
) -> Decision:
    """Whether and when ``event`` may be sent; safe to ask again for the same event.

    ``seen``: the run's view of recent rows (the database's, and the run's own as they change);
    ``chosen``: what the event's recipient chose (``delivery.preferences``).
    """
    if delivery.test_push:  # an operator's explicit act (the admin's test push): sent, now
        return Decision()
    policy, now = app.policy, clock()
    # Reasons are words; the detail (a cap, a window, a time) goes in the row, never a label.
    theirs = event.kind not in policy.unmutable  # an unmutable kind is the app's alone
    if theirs and event.policy.chosen_by_recipient:
        mode = chosen.mode(event.kind)
        if mode == OFF:
            reason = f"the recipient turned {event.kind} off"
            return Decision(held=Failure("preference_off", reason))
        if mode == DAILY_SUMMARY:
            reason = "held for the recipient's daily summary"
            return Decision(held=Failure("summary_pending", reason))
    personal = theirs and chosen.quiet_hours is not None
    zone = chosen.zone(app) if personal else policy.zone
    window = chosen.quiet_hours if personal else policy.quiet_hours
    quiet = "recipient_quiet_hours" if personal else "quiet_hours"
    local = now.astimezone(zone)
    end = quiet_end(window, local)
    if end is not None and policy.quiet_hours_mode == "drop":
        return Decision(held=Failure(quiet, f"quiet hours until {end:%H:%M}"))
    if end is not None and policy.quiet_hours_mode == "hold":
        return Decision(wait=(end - local).total_seconds(), quiet=quiet)
    local = now.astimezone(policy.zone)  # the daily cap's day is the app's
    if policy.dedup_window and _duplicate_of(event, delivery, policy, seen):
        reason = f"duplicate of a push sent within {policy.dedup_window} s"
        return Decision(held=Failure("duplicate", reason))
    if (
        policy.daily_cap
        and event.policy.daily_capped
        and not _within_cap(event, delivery, policy, local, seen)
    ):
        reason = f"daily cap of {policy.daily_cap} pushes reached"
        return Decision(held=Failure("daily_cap", reason))
    return Decision(send_at=end)


def quiet_end(window: tuple[time, time] | None, local: datetime) -> datetime | None:
    """The end of the quiet hours ``window`` that ``local`` falls in, in ``local``'s zone; None
    outside them (or without a window)."""
    if window is None:
        return None
    start, end = window
    now = local.time().replace(tzinfo=None)
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=local.tzinfo)


def devices(found: list[PushDevice], app: AppSettings) -> list[PushDevice]:
    """Every active device, or (``DEVICES: newest_per_platform``) the newest of each platform."""
    if app.policy.devices == "all":
        return found
    newest: dict[str, PushDevice] = {}
    for device in sorted(found, key=lambda d: d.modify_time, reverse=True):
        newest.setdefault(device.os_type, device)
    return list(newest.values())


def shape(
    note: Any, event: Event, delivery: Delivery, app: AppSettings, decision: Decision, seen: Recent
) -> Any:
    """The kind's notification with the app's identity, channel, lifetime, schedule and digest."""
    policy, changes = app.policy, {}
    if policy.notify_id == "subject":  # repeats about one subject replace each other on Android
        changes["notify_id"] = notification.notify_id(
            f"{event.kind}\0{event.recipient_id}\0{event.subject_id}"
        )
    if channel := policy.channels.get(event.kind):
        changes["channel_id"] = channel
    if policy.time_to_live:
        changes["time_to_live_ms"] = policy.time_to_live * 1000
    if decision.send_at is not None:
        changes["time_to_send_ms"] = int(decision.send_at.timestamp() * 1000)
    # Only dedup and the cap hold events back for a digest: with both off there is none to ask.
    if (policy.dedup_window or policy.daily_cap) and not delivery.test_push:  # says its own text
        held = seen.held_since_last_push(event, delivery)
        if held and (text := event.digest(held)):
            changes["description"] = text
    return replace(note, **changes) if changes else note


def dedup_name(app_name: str, kind: str, key: str) -> str:
    """The Redis key of one dedup window."""
    tag = hashlib.sha256(f"{app_name}\0{kind}\0{key}".encode()).hexdigest()[:32]
    return f"{_PREFIX}:dedup:{tag}"


def _duplicate_of(event: Event, delivery: Delivery, policy: Policy, seen: Recent) -> str | None:
    """The event id this one repeats within the window, or None."""
    key = event.dedup_key()
    if key == event.event_id:  # the kind does not dedup beyond its own event id
        return None
    client = _client()
    if client is not None:
        try:
            name = dedup_name(delivery.app_name, event.kind, key)
            if not client.set(name, event.event_id, nx=True, ex=policy.dedup_window):
                holder = (client.get(name) or b"").decode()
                if holder and holder != event.event_id:
                    if seen.may_push(holder, delivery, policy.dedup_window):
                        return holder
                    # The holder was held back or failed: nothing reached the phone, so this one
                    # takes the window over instead of being called a repeat of nothing.
                    client.set(name, event.event_id, ex=policy.dedup_window)
                elif holder:  # this event's own key: a run again of an admitted event
                    return None
        except (redis.RedisError, OSError) as error:
            _unreachable(error)
    # Redis saw no repeat: the database confirms, so a Redis that lost its keys repeats nothing.
    since = timezone.now() - timedelta(seconds=policy.dedup_window)
    for event_id, payload in seen.sent_since(event, delivery, since):
        other = type(event).from_row(str(event_id), delivery.app_name, event.recipient_id, payload)
        if other.dedup_key() == key:
            return str(event_id)
    return None


def _within_cap(
    event: Event, delivery: Delivery, policy: Policy, local: datetime, seen: Recent
) -> bool:
    """Admit the event into today's cap (atomically in Redis), or answer False: the cap is full."""
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    client = _client()
    if client is not None:
        name = f"{_PREFIX}:cap:{delivery.app_name}:{event.kind}:{event.recipient_id}:{local:%Y%m%d}"
        args = [event.event_id, policy.daily_cap, 2 * _DAY_SECONDS]
        try:
            admitted = int(client.eval(_ADMIT, 1, name, *args, "0"))
            if admitted == -1:  # a new day, or Redis lost the set: seed it from the record
                seeds = seen.admitted_since(event, delivery, midnight)
                admitted = int(client.eval(_ADMIT, 1, name, *args, "1", *seeds))
            return admitted == 1
        except (redis.RedisError, OSError) as error:
            _unreachable(error)
    admitted_ids = seen.admitted_since(event, delivery, midnight)
    return event.event_id in admitted_ids or len(admitted_ids) < policy.daily_cap


def _unreachable(error: BaseException) -> None:
    extra = {"error": type(error).__name__}
    log.warning("policy redis unreachable: the database answers", extra=extra)


_override: Any = None


def use(client: redis.Redis | None) -> None:
    """The policy's Redis (tests); ``None`` returns to the broker's."""
    global _override
    _override = client


def _client() -> redis.Redis | None:
    # The rate limit's client (the broker's Redis, per process, Sentinel-aware); none where the
    # limiter has no Redis, such as the unit tests of the code above, which replace it.
    return _override if _override is not None else getattr(ratelimit.limiter(), "client", None)
