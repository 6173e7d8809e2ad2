"""The deciding middle: claim a delivery, plan its send units, judge the answers, record the end.

No Celery here. The task hands in the event and whether the broker redelivered its message; this
module answers with an :class:`Outcome` that says whether the broker should try again and when.
The mechanics of one request (client, quick retries, masking) live in ``sending``; every row is
read and written through ``records``. A batch run (``pushworker.delivery.batch``) uses the same
three
steps for many events at once: :func:`plan`, then its own grouped requests, then :func:`judge`.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pushworker import conf
from pushworker.delivery import nicknames, policy, ratelimit, routing, sending
from pushworker.events.base import Event
from pushworker.mipush import InvalidMessageError, SendResult
from pushworker.store import records
from pushworker.store.models import TERMINAL_STATUSES, Delivery, DeliveryStatus, PushDevice
from pushworker.store.records import Failure

if TYPE_CHECKING:
    from pushworker.delivery.policy_batch import Prefetch

log = logging.getLogger("pushworker.delivery")


@dataclass(frozen=True)
class Outcome:
    """What the run decided: a terminal status, or a retry after ``countdown`` seconds."""

    status: str
    countdown: float | None = None

    @property
    def retry(self) -> bool:
        return self.countdown is not None


@dataclass
class Planned:
    """One claimed event that will make requests: its sendable units with their form fields."""

    event: Event
    delivery: Delivery
    app: conf.AppSettings
    past: records.History
    units: list[tuple[routing.SendUnit, dict[str, str]]] = field(default_factory=list)
    permanent: list[Failure] = field(default_factory=list)  # units refused before any request

    def maybe_sent(self, unit: routing.SendUnit) -> bool:
        """An earlier request for the unit may have reached Xiaomi: a repeat is flagged."""
        return bool(unit.target_keys & self.past.maybe_sent)


def _retryable(event: Event, failure: Failure) -> bool:
    # A used-up daily quota is the kind's call: a stale visit fails, a shipped order waits.
    if failure.category == "quota":
        return event.quota_exhausted == "retry"
    return failure.category in ("transient", "throttled")


def deliver(event: Event, *, redelivered: bool = False, retried: bool = False) -> Outcome:
    """Deliver one event of any kind; safe to call again for the same event at any time.

    A request is made only after the delivery row was claimed by this run, and a target that Xiaomi
    already accepted is never requested again, even when the recipient's devices changed since. The
    only repeat possible is a target whose request was cut by a crash or failed after it may have
    reached Xiaomi (a read timeout, a 500): it is sent again (on Android with the same
    ``notify_id``) and the row is flagged. A ``retried`` message whose row is gone was purged after
    it finished: it ends as ``purged`` without a request.
    """
    settings = conf.get()
    try:
        app = settings.app(event.app_name)
    except KeyError as error:
        delivery, _ = records.ensure(event, event.app_name or settings.default_app)
        return end(delivery, DeliveryStatus.FAILED, Failure("configuration", str(error.args[0])))
    delivery, _ = records.ensure(event, app.name, create=not retried)
    if delivery is None:
        return Outcome("purged")
    if delivery.status in TERMINAL_STATUSES:
        return Outcome(delivery.status)
    if not records.claim(
        delivery,
        redelivered=redelivered,
        lease_seconds=settings.claim_lease_seconds,
        batch_lease=settings.batch_run_seconds,  # a batch run may hold its rows that long
    ):
        # Another live run holds it: look again once that run's lease is over, but no later than
        # the retry cap: a longer countdown would outlive Redis's visibility timeout.
        countdown = min(settings.claim_lease_seconds, settings.retry.cap_seconds)
        return Outcome(DeliveryStatus.SENDING, countdown=countdown)
    planned = plan(event, delivery, app, settings)
    if isinstance(planned, Outcome):
        return planned
    accepted: list[SendResult] = []
    retryable: list[Failure] = []
    permanent = list(planned.permanent)
    for unit, fields in planned.units:
        try:
            answer = sending.send_unit(
                delivery, unit, fields, settings, maybe_sent=planned.maybe_sent(unit)
            )
        except ratelimit.Deferred as over:
            return defer(delivery, over, settings)
        sort(event, answer, accepted, retryable, permanent)
    return judge(planned, accepted, retryable, permanent, settings)


def plan(
    event: Event,
    delivery: Delivery,
    app: conf.AppSettings,
    settings: conf.Settings,
    devices: list[PushDevice] | None = None,
    prefetch: Prefetch | None = None,
) -> Outcome | Planned:
    """What a claimed delivery sends, or how it ended (suppressed, no device, dead, held back).

    ``devices``: the recipient's active devices when the caller read them already (a batch reads
    every recipient's in one query); ``prefetch``: the policy's reads for the whole batch.
    """
    # A delivery that never made a request (the usual case) has no history worth a query.
    past = records.history(delivery) if delivery.attempts else records.History()
    if delivery.crashes >= settings.max_crashes:
        reason = f"a worker died {delivery.crashes} times while delivering this event"
        return end(delivery, DeliveryStatus.DEAD, Failure("poison", reason))
    suppressed = event.suppressed()
    if suppressed:
        return end(delivery, DeliveryStatus.SUPPRESSED, Failure("suppressed", suppressed))
    # The delivery policy runs once per event before its first request: a run that resumes a
    # partly sent delivery was admitted already, and asking again could hold back the rest.
    resumed = past.sent or past.maybe_sent
    decision = policy.Decision() if resumed else policy.admit(event, delivery, app, prefetch)
    if decision.held is not None:
        return end(delivery, DeliveryStatus.SUPPRESSED, decision.held)
    if decision.wait is not None:
        # Quiet hours (mode "hold"): come back at their end, in hops no longer than the retry
        # cap (Redis redelivers a longer countdown), without spending the retry budget.
        countdown = max(1.0, min(settings.retry.cap_seconds, decision.wait))
        quiet = Failure("quiet_hours", "held until the quiet hours end")
        records.park_for_retry(delivery, quiet, countdown, spend=False)
        return Outcome(DeliveryStatus.RETRYING, countdown=countdown)
    if devices is None:
        devices = records.active_devices(event.recipient_id, app.name)
    devices = policy.devices(devices, app)
    if not devices and not past.sent:
        return end(delivery, DeliveryStatus.FAILED, Failure("no_device", "no device"))

    note = event.notification(settings, nicknames.of(event, settings))
    note = policy.shape(note, event, delivery, app, decision, prefetch)
    planned = Planned(event, delivery, app, past)
    for unit in routing.plan(devices, app, skip=past.sent):
        if unit.credentials is None:
            log.error("no sender configured", extra={"app": app.name, "platform": unit.platform})
            planned.permanent.append(
                Failure("configuration", f"app {app.name!r} has no {unit.platform} credentials")
            )
            continue
        try:
            planned.units.append((unit, sending.fields_for(note, unit)))
        except InvalidMessageError as error:
            planned.permanent.append(Failure("bad_request", str(error)))
    return planned


def sort(
    event: Event,
    answer: Failure | SendResult,
    accepted: list[SendResult],
    retryable: list[Failure],
    permanent: list[Failure],
) -> None:
    """File one unit's answer as accepted, worth another try, or final."""
    if isinstance(answer, SendResult):
        accepted.append(answer)
    elif _retryable(event, answer):
        retryable.append(answer)
    else:
        permanent.append(answer)


def defer(delivery: Delivery, over: ratelimit.Deferred, settings: conf.Settings) -> Outcome:
    """Over the shared rate limit: come back when the slots free up, without spending the retry
    budget (targets already accepted in this run are skipped next time)."""
    countdown = min(settings.retry.cap_seconds, over.wait * random.uniform(1.0, 1.5))
    records.park_for_retry(delivery, Failure("rate_limited", str(over)), countdown, spend=False)
    return Outcome(DeliveryStatus.RETRYING, countdown=countdown)


def judge(
    planned: Planned,
    accepted: list[SendResult],
    retryable: list[Failure],
    permanent: list[Failure],
    settings: conf.Settings,
    *,
    record_sent: bool = True,
) -> Outcome:
    """End the delivery from its units' answers, or park it for a broker retry.

    ``record_sent=False``: a batch writes its sent deliveries in one statement; the outcome says
    which they are, and nothing is written here for them.
    """
    delivery, past = planned.delivery, planned.past
    if retryable:
        # The row counts broker retries spent on failures; Celery's own count also includes
        # waits for another run's claim, which must not eat the budget.
        if delivery.retries < settings.retry.max_retries:
            throttled = any(f.category in ("throttled", "quota") for f in retryable)
            ceiling = settings.retry.countdown_ceiling(delivery.retries, throttled)
            countdown = random.uniform(0, ceiling)
            records.park_for_retry(delivery, retryable[0], countdown)
            return Outcome(DeliveryStatus.RETRYING, countdown=countdown)
        return end(delivery, DeliveryStatus.DEAD, retryable[0])
    if accepted or past.sent:
        # Reached some of the recipient's devices: "partial" when others could not be sent to.
        status = DeliveryStatus.PARTIAL if permanent else DeliveryStatus.SENT
        if status == DeliveryStatus.SENT and accepted and not record_sent:
            return Outcome(status)
        failure = permanent[0] if permanent else None
        return end(delivery, status, failure, accepted[0] if accepted else None)
    return end(delivery, DeliveryStatus.FAILED, permanent[0])


def end(
    delivery: Delivery, status: str, failure: Failure | None, answer: SendResult | None = None
) -> Outcome:
    """Finish the delivery; a sent one keeps Xiaomi's ids (an earlier run's if none now)."""
    message_id, trace_id = (answer.message_id or "", answer.trace_id or "") if answer else ("", "")
    if status in (DeliveryStatus.SENT, DeliveryStatus.PARTIAL) and answer is None:
        message_id, trace_id = records.last_sent_ids(delivery)
    records.finish(delivery, status, failure=failure, message_id=message_id, trace_id=trace_id)
    finished(delivery, status, failure)
    return Outcome(status)


def finished(delivery: Delivery, status: str, failure: Failure | None = None) -> None:
    log.info(
        "finished",
        extra={
            "delivery_id": str(delivery.event_id),
            "status": status,
            "code": failure.code if failure else None,
        },
    )
