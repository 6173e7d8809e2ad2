"""Batched requests: one Xiaomi ``multi_messages`` request carries many events' units.

Xiaomi answers a multi request with one message id and no per-target result, and refuses it whole
when one message in it is bad (mipush-api.md §4.1). So a refused request is split in halves until
the refusal is pinned on single units, which go out alone through ``sending.send_unit`` (the path
that knows ``bad_regids`` and retires invalid targets); every other unit is still sent. A
transient failure, after the quick in-task repeats, is every unit's answer: each event retries
later with its own budget.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pushworker import conf
from pushworker.delivery import content, ratelimit, routing, sending
from pushworker.delivery.service import Planned
from pushworker.mipush import (
    BadRequestError,
    Environment,
    InvalidMessageError,
    InvalidTargetError,
    MiPushError,
    QuotaExceededError,
    SendResult,
)
from pushworker.store import records_batch
from pushworker.store.records import Failure

log = logging.getLogger("pushworker.delivery")
# Refusals one message or target can cause: splitting the request finds it. A bad secret, a
# quota or a transient failure is the same for every item, and splitting would only repeat it.
SPLITTABLE = (BadRequestError, InvalidTargetError, InvalidMessageError)


class OutOfTime(ratelimit.Deferred):
    """The run is past its budget for new requests: the unit goes out with the event's next run."""

    def __str__(self) -> str:
        return "the batch run ran out of time before this request"


@dataclass
class Entry:
    """One event's unit in a batch, and what became of it."""

    planned: Planned
    unit: routing.SendUnit
    fields: dict[str, str]
    answer: Failure | SendResult | ratelimit.Deferred | None = None


def group_key(entry: Entry) -> tuple:
    """Units that may share one request: one app secret, platform, host and target type."""
    unit = entry.unit
    return (unit.credentials, unit.platform, unit.environment, unit.target_type)


def send(entries: Sequence[Entry], settings: conf.Settings, deadline: float = math.inf) -> None:
    """Give every entry its answer; entries of one group are sent in as few requests as allowed.

    No request starts after ``deadline`` (``time.monotonic``): those entries answer OutOfTime."""
    if time.monotonic() > deadline:
        for entry in entries:
            entry.answer = OutOfTime(0.0, 0.0)
        return
    if len(entries) == 1:
        entry = entries[0]
        planned = entry.planned
        try:
            entry.answer = sending.send_unit(
                planned.delivery,
                entry.unit,
                entry.fields,
                settings,
                maybe_sent=planned.maybe_sent(entry.unit),
            )
        except ratelimit.Deferred as over:
            entry.answer = over
        return
    try:
        result = _request(entries, settings)
    except ratelimit.Deferred as over:
        for entry in entries:
            entry.answer = over
        return
    except SPLITTABLE as error:
        half = len(entries) // 2
        log.warning(
            "xiaomi refused a batch; splitting it",
            extra={"events": len(entries), "problem": str(error)[:200]},
        )
        send(entries[:half], settings, deadline)
        send(entries[half:], settings, deadline)
        return
    except MiPushError as error:
        failure = sending.failure_of(error)
        log.warning(
            "xiaomi refused a batch",
            extra={"events": len(entries), "code": failure.code, "category": failure.category},
        )
        for entry in entries:
            entry.answer = failure
        return
    except (TypeError, ValueError) as error:  # the client refused the app secret
        failure = Failure("configuration", f"{entries[0].unit.platform} client refused: {error}")
        for entry in entries:
            entry.answer = failure
        return
    for entry in entries:
        entry.answer = result


def _request(entries: Sequence[Entry], settings: conf.Settings) -> SendResult:
    """One multi request with quick repeats; each try is recorded on every delivery in it."""
    first = entries[0].unit
    assert first.credentials is not None
    client = sending.client_for(first.credentials, settings)
    items = [
        (
            target,
            entry.fields
            | content.callback_fields(entry.planned.delivery.event_id, settings.receipts),
        )
        for entry in entries
        for target in entry.unit.targets
    ]
    app_name = entries[0].planned.app.name
    flag = [e.planned.delivery for e in entries if e.planned.maybe_sent(e.unit)]
    for try_ in sending.quick_retries(settings):
        with try_:
            ratelimit.acquire(app_name, first.platform)  # may raise Deferred
            attempts = records_batch.start_attempts(
                [(e.planned.delivery, e.unit) for e in entries], flag=flag
            )
            try:
                [result] = client.send_multi(
                    items,
                    target_type=first.target_type,
                    environment=Environment(first.environment),
                )
                if result.quota_dropped != 0:
                    raise _over_quota(result, len(items))
            except MiPushError as error:
                ratelimit.feedback(app_name, first.platform, error.code)
                failure = sending.failure_of(error)
                records_batch.attempts_failed(
                    attempts, failure, maybe_delivered=error.maybe_delivered
                )
                if error.maybe_delivered:  # the next try may repeat what Xiaomi took
                    flag = [e.planned.delivery for e in entries]
                raise
            except InvalidMessageError as error:
                failure = Failure("bad_request", str(error))
                records_batch.attempts_failed(attempts, failure, maybe_delivered=False)
                raise
            records_batch.attempts_sent(attempts, result)
    log.info(
        "sent a batch",
        extra={
            "events": len(entries),
            "platform": first.platform,
            "environment": first.environment,
            "message_id": result.message_id,
            "trace_id": result.trace_id,
        },
    )
    return result


def _over_quota(result: SendResult, items: int) -> QuotaExceededError:
    """A multi request over the daily quota is answered code 0 with the dropped messages counted
    per channel, not which ones (mipush-api.md §4.1): every event in it may or may not have gone."""
    dropped = "some" if result.quota_dropped is None else result.quota_dropped
    return QuotaExceededError(
        "Xiaomi dropped messages of a batch over the daily quota",
        code=200001,
        reason=f"{dropped} of {items} messages dropped over quota ({result.channel_exceed_quota})",
        trace_id=result.trace_id,
        http_status=result.http_status,
        maybe_delivered=True,
    )
