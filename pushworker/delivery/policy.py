"""The delivery policy: what the worker holds back, delays or changes before any Xiaomi call.

Per app (``APPS[name]['POLICY']``, :mod:`pushworker.conf.policy`), in this order:

- **Quiet hours** (off by default): an event inside the window is carried to Xiaomi with
  ``time_to_send`` at the window's end, or held by our own schedule (broker retries that do not
  spend the retry budget, each at most ``RETRY_CAP`` long so Redis never redelivers one), or
  dropped (``suppressed``, reason ``quiet_hours``).
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
database alone answers (correct, but two workers racing may both admit).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import redis
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from pushworker.conf.policy import Policy
from pushworker.conf.types import AppSettings
from pushworker.delivery import content, ratelimit
from pushworker.events.base import Event
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from pushworker.store.records import Failure

if TYPE_CHECKING:
    from pushworker.delivery.policy_batch import Prefetch

log = logging.getLogger("pushworker.policy")

SENT = (DeliveryStatus.SENT, DeliveryStatus.PARTIAL)
PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)
HELD = ("duplicate", "daily_cap")  # reasons of the suppressed rows a digest reports
# The rows the daily cap counts: sent, or being sent (a request was made). policy_batch.counted
# says the same of a row in memory.
COUNTED = Q(status__in=SENT) | Q(
    status__in=(DeliveryStatus.SENDING, DeliveryStatus.RETRYING), attempts__gt=0
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
    """Send (at ``send_at`` when set), hold back for good (``held``), or come back in ``wait`` s."""

    held: Failure | None = None
    wait: float | None = None
    send_at: datetime | None = None


def clock() -> datetime:
    """Now; tests replace it to simulate a day (``monkeypatch.setattr(policy, "clock", ...)``)."""
    return timezone.now()


def admit(
    event: Event, delivery: Delivery, app: AppSettings, prefetch: Prefetch | None = None
) -> Decision:
    """Whether and when ``event`` may be sent; safe to ask again for the same event.

    ``prefetch``: a batch run's reads of the database for all its events (the same answers).
    """
    if delivery.test_push:  # an operator's explicit act (the admin's test push): sent, now
        return Decision()
    policy, now = app.policy, clock()
    local = now.astimezone(policy.zone)
    end = quiet_end(policy, local)
    if end is not None and policy.quiet_hours_mode == "drop":
        return Decision(held=Failure("quiet_hours", f"quiet hours until {end:%H:%M}"))
    if end is not None and policy.quiet_hours_mode == "hold":
        return Decision(wait=(end - local).total_seconds())
    # Reasons stay free of ids and dates: the suppressed-reason metric labels by their start.
    if policy.dedup_window and _duplicate_of(event, delivery, policy, prefetch):
        reason = f"duplicate of a push sent within {policy.dedup_window} s"
        return Decision(held=Failure("duplicate", reason))
    if (
        policy.daily_cap
        and event.daily_capped
        and not _within_cap(event, delivery, policy, local, prefetch)
    ):
        reason = f"daily cap of {policy.daily_cap} pushes reached"
        return Decision(held=Failure("daily_cap", reason))
    return Decision(send_at=end)


def quiet_end(policy: Policy, local: datetime) -> datetime | None:
    """The end of the quiet hours ``local`` falls in, in the app's zone; None outside them."""
    if policy.quiet_hours is None:
        return None
    start, end = policy.quiet_hours
    now = local.time().replace(tzinfo=None)
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=policy.zone)


def devices(found: list[PushDevice], app: AppSettings) -> list[PushDevice]:
    """Every active device, or (``DEVICES: newest_per_platform``) the newest of each platform."""
    if app.policy.devices == "all":
        return found
    newest: dict[str, PushDevice] = {}
    for device in sorted(found, key=lambda d: d.modify_time, reverse=True):
        newest.setdefault(device.os_type, device)
    return list(newest.values())


def shape(
    note: Any,
    event: Event,
    delivery: Delivery,
    app: AppSettings,
    decision: Decision,
    prefetch: Prefetch | None = None,
) -> Any:
    """The kind's notification with the app's identity, channel, lifetime, schedule and digest."""
    policy, changes = app.policy, {}
    if policy.notify_id == "subject":  # repeats about one subject replace each other on Android
        changes["notify_id"] = content.notify_id(
            f"{event.kind}\0{event.recipient_id}\0{event.subject_id}"
        )
    if channel := policy.channels.get(event.kind):
        changes["channel_id"] = channel
    if policy.time_to_live:
        changes["time_to_live_ms"] = policy.time_to_live * 1000
    if decision.send_at is not None:
        changes["time_to_send_ms"] = int(decision.send_at.timestamp() * 1000)
    # Only dedup and the cap hold events back for a digest: with both off there is none to ask.
    # A batch knows the answer for most recipients (policy_batch.Prefetch.held_since_last_push).
    held: list[Event] | None = []
    if (policy.dedup_window or policy.daily_cap) and not delivery.test_push:  # says its own text
        held = prefetch.held_since_last_push(event, delivery) if prefetch else None
        held = _held_since_last_push(event, delivery) if held is None else held
    if held and (text := event.digest(held)):
        changes["description"] = text
    return replace(note, **changes) if changes else note


def dedup_name(app_name: str, kind: str, key: str) -> str:
    """The Redis key of one dedup window."""
    tag = hashlib.sha256(f"{app_name}\0{kind}\0{key}".encode()).hexdigest()[:32]
    return f"{_PREFIX}:dedup:{tag}"


def _duplicate_of(
    event: Event, delivery: Delivery, policy: Policy, prefetch: Prefetch | None
) -> str | None:
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
                    known = prefetch.may_push(holder, delivery, policy) if prefetch else None
                    if _may_push(holder) if known is None else known:
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
    rows = prefetch.sent_since(event, delivery, since) if prefetch else None
    if rows is None:
        rows = list(
            Delivery.objects.filter(
                app_name=delivery.app_name,
                kind=event.kind,
                recipient_id=event.recipient_id,
                subject_id=event.subject_id,
                status__in=SENT,
                created_at__gte=since,
            )
            .exclude(pk=delivery.pk)
            .values_list("event_id", "payload")[:100]
        )
    for event_id, payload in rows:
        other = type(event).from_row(str(event_id), delivery.app_name, event.recipient_id, payload)
        if other.dedup_key() == key:
            return str(event_id)
    return None


def _may_push(event_id: str) -> bool:
    """Whether the event holding a dedup window was sent, or may still be."""
    try:
        return Delivery.objects.filter(event_id=event_id, status__in=(*SENT, *PENDING)).exists()
    except (ValueError, ValidationError):  # not an event id: nothing was pushed under it
        return False


def _within_cap(
    event: Event, delivery: Delivery, policy: Policy, local: datetime, prefetch: Prefetch | None
) -> bool:
    """Admit the event into today's cap (atomically in Redis), or answer False: the cap is full."""
    client = _client()
    if client is not None:
        name = f"{_PREFIX}:cap:{delivery.app_name}:{event.kind}:{event.recipient_id}:{local:%Y%m%d}"
        args = [event.event_id, policy.daily_cap, 2 * _DAY_SECONDS]
        try:
            admitted = int(client.eval(_ADMIT, 1, name, *args, "0"))
            if admitted == -1:  # a new day, or Redis lost the set: seed it from the record
                seeds = _admitted_today(event, delivery, local, prefetch)
                admitted = int(client.eval(_ADMIT, 1, name, *args, "1", *seeds))
            return admitted == 1
        except (redis.RedisError, OSError) as error:
            _unreachable(error)
    admitted_ids = _admitted_today(event, delivery, local, prefetch)
    return event.event_id in admitted_ids or len(admitted_ids) < policy.daily_cap


def _admitted_today(
    event: Event, delivery: Delivery, local: datetime, prefetch: Prefetch | None = None
) -> list[str]:
    """Event ids of the recipient's rows of this kind sent, or being sent, since local midnight."""
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if prefetch is not None:
        return prefetch.admitted_since(event, delivery, midnight)
    rows = Delivery.objects.filter(
        COUNTED,
        app_name=delivery.app_name,
        kind=event.kind,
        recipient_id=event.recipient_id,
        created_at__gte=midnight,
    ).exclude(pk=delivery.pk)
    return [str(e) for e in rows.values_list("event_id", flat=True)]


def _held_since_last_push(event: Event, delivery: Delivery) -> list[Event]:
    """The recipient's events of this kind held back since the last one that was sent."""
    mine = Delivery.objects.filter(
        app_name=delivery.app_name, kind=event.kind, recipient_id=event.recipient_id
    ).exclude(pk=delivery.pk)
    last = mine.filter(status__in=SENT).order_by("-finished_at").values_list("finished_at")[:1]
    held = mine.filter(status=DeliveryStatus.SUPPRESSED, error_category__in=HELD)
    if last:
        held = held.filter(finished_at__gt=last[0][0])
    rows = held.values_list("event_id", "payload")[:1000]
    return [type(event).from_row(str(e), delivery.app_name, event.recipient_id, p) for e, p in rows]


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
