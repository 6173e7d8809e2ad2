"""Planning a run's events: what each claimed event sends, or how it ends before any request.

In claim order, each event meets its crash count and lifetime, its kind's suppression, the
delivery policy (through the run's view of recent rows and of its recipients' preferences), its
recipient's devices (read for the whole run at once) and its earlier runs' attempts; what is left
are send units with their form fields. An event that ends here is written at once, so the policy
sees it for the events after it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from pushworker import conf
from pushworker.delivery import content, nicknames, policy, routing
from pushworker.delivery.preferences import Preferences
from pushworker.delivery.recent import Recent
from pushworker.events.base import Event
from pushworker.mipush import InvalidMessageError
from pushworker.store import deliveries
from pushworker.store.attempts import History
from pushworker.store.deliveries import Failure, Parked
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice

log = logging.getLogger("pushworker.delivery")


@dataclass
class Planned:
    """One claimed event that will make requests: its sendable units with their form fields."""

    event: Event
    delivery: Delivery
    app: conf.AppSettings
    past: History
    units: list[tuple[routing.SendUnit, dict[str, str]]] = field(default_factory=list)
    permanent: list[Failure] = field(default_factory=list)  # units refused before any request

    def maybe_sent(self, unit: routing.SendUnit) -> bool:
        """An earlier request for the unit may have reached Xiaomi: a repeat is flagged."""
        return bool(unit.target_keys & self.past.maybe_sent)


@dataclass(frozen=True)
class Ended:
    """An event that ended before any request (written already)."""

    delivery: Delivery
    status: str
    failure: Failure | None = None


def lifetime(event: Event, settings: conf.Settings) -> timedelta:
    """How long ``event`` stays worth sending: its kind's, unless ``LIFETIMES`` says otherwise."""
    seconds = settings.lifetimes.get(event.kind)
    return timedelta(seconds=seconds) if seconds is not None else event.policy.lifetime


def expired(event: Event, delivery: Delivery, settings: conf.Settings) -> bool:
    return timezone.now() - delivery.created_at >= lifetime(event, settings)


def expiry(event: Event, settings: conf.Settings, last: Failure | None = None) -> Failure:
    seconds = lifetime(event, settings).total_seconds()
    reason = f"not sent within its kind's lifetime of {seconds:g} s"
    if last is not None:
        reason += f"; the last failure: {last.reason}"
    return Failure("expired", reason, code=last.code if last else None)


def end(delivery: Delivery, status: str, failure: Failure | None = None) -> Ended:
    deliveries.finish(delivery, status, failure=failure)
    return Ended(delivery, status, failure)


def plan(
    event: Event,
    delivery: Delivery,
    settings: conf.Settings,
    *,
    past: History,
    found: list[PushDevice],
    seen: Recent,
    chosen: Preferences,
) -> Planned | Ended | Parked:
    """What a claimed delivery sends, or how it ended or waits (suppressed, no device, expired,
    held for quiet hours). ``found``: the recipient's active devices, read for the whole run;
    ``chosen``: the run's recipients' preferences, read for the whole run."""
    try:
        app = settings.app(delivery.app_name)
    except KeyError as error:
        return end(delivery, DeliveryStatus.FAILED, Failure("configuration", str(error.args[0])))
    if delivery.crashes >= settings.max_crashes:
        reason = f"a worker died {delivery.crashes} times while delivering this event"
        return end(delivery, DeliveryStatus.DEAD, Failure("poison", reason))
    suppressed = event.suppressed()
    if suppressed:
        return end(delivery, DeliveryStatus.SUPPRESSED, Failure("suppressed", suppressed))
    if not past.sent and expired(event, delivery, settings):
        return end(delivery, DeliveryStatus.DEAD, expiry(event, settings))
    # The delivery policy runs once per event before its first request: a run that resumes a
    # partly sent delivery was admitted already, and asking again could hold back the rest.
    resumed = past.sent or past.maybe_sent
    decision = (
        policy.Decision()
        if resumed
        else policy.admit(event, delivery, app, seen, chosen.of(delivery))
    )
    if decision.held is not None:
        return end(delivery, DeliveryStatus.SUPPRESSED, decision.held)
    if decision.wait is not None:
        # Quiet hours (mode "hold"): the row waits for their end, spending no retry.
        due = timezone.now() + timedelta(seconds=max(1.0, decision.wait))
        quiet = Failure(decision.quiet, "held until the quiet hours end")
        return Parked(delivery, quiet, due, spent=False)
    devices = policy.devices(found, app)
    if not devices and not past.sent:
        return end(delivery, DeliveryStatus.FAILED, Failure("no_device", "no device"))
    note = event.notification(settings, nicknames.of(event, settings))
    note = policy.shape(note, event, delivery, app, decision, seen)
    planned = Planned(event, delivery, app, past)
    for unit in routing.plan(devices, app, skip=past.sent):
        if unit.credentials is None:
            log.error("no sender configured", extra={"app": app.name, "platform": unit.platform})
            planned.permanent.append(
                Failure("configuration", f"app {app.name!r} has no {unit.platform} credentials")
            )
            continue
        build = content.ios_fields if unit.platform == "ios" else content.android_fields
        try:
            fields = build(note, package=unit.credentials.package)
        except InvalidMessageError as error:
            planned.permanent.append(Failure("bad_request", str(error)))
            continue
        planned.units.append(
            (unit, fields | content.callback_fields(event.event_id, settings.receipts))
        )
    return planned
