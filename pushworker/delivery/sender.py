"""The one send path: a group of units (one event's or many events') in one request to Xiaomi.

A group shares an app secret, platform, host and target type. One unit goes out as
``/v3/message/regid|alias`` (one message to the unit's targets; Xiaomi names unknown regids in
``bad_regids``), several as ``/v2/multi_messages/*`` (each event its own message; one id and no
per-target answer for the whole request, mipush-api.md §4.1). Around each request, in order: the
outage breaker, the shared rate limit, one attempt row per event (written before the request), the
request with quick repeats of transient failures, the answer recorded on the attempts.

A refusal one message or target can cause (a bad message, an unknown target) splits the group in
halves until it is pinned on single units, so every other unit is still sent; a single unit's
unknown targets retire their devices. Any other refusal is every unit's answer. A request that must
not be made now (the breaker is open, the rate limit is full, the run is out of time) is every
unit's answer too: :class:`pushworker.delivery.ratelimit.Later`, and the events wait as rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_random_exponential

from pushworker import conf
from pushworker.delivery import outage, ratelimit, routing
from pushworker.mipush import (
    BadRequestError,
    Client,
    ConfigurationError,
    Endpoints,
    Environment,
    InvalidMessageError,
    InvalidTargetError,
    MiPushError,
    QuotaExceededError,
    SendResult,
    ThrottledError,
    TransientError,
)
from pushworker.ops import metrics
from pushworker.store import attempts as attempt_rows
from pushworker.store import deliveries, devices
from pushworker.store.deliveries import Failure
from pushworker.store.models import Delivery

log = logging.getLogger("pushworker.delivery")
BAD_REGID_REASON = "Xiaomi bad_regids: unknown registration id"
# Refusals one message or target can cause: splitting the group finds it. A bad secret, a quota
# or a transient failure is the same for every item, and splitting would only repeat it.
SPLITTABLE = (BadRequestError, InvalidTargetError, InvalidMessageError)


class OutOfTime(ratelimit.Later):
    """The run is past its budget for new requests: the unit goes out with the event's next run."""

    category = "out_of_time"

    def __str__(self) -> str:
        return "the run ran out of time before this request"


@dataclass
class Entry:
    """One event's unit in a group, and what became of it."""

    delivery: Delivery
    unit: routing.SendUnit
    fields: dict[str, str]
    maybe_sent: bool = False  # an earlier request for it may have reached Xiaomi: flag a repeat
    answer: Failure | SendResult | ratelimit.Later | None = None
    requests: int = 0  # requests made for it in this run (its attempt rows)


@dataclass
class Sent:
    """What one run's requests did beyond each entry's answer."""

    outages_ended: bool = False  # a request ended an outage: rows waiting for it are due now
    requests: int = 0
    entries: list[Entry] = field(default_factory=list)


@lru_cache(maxsize=32)
def _client(
    credentials: conf.PlatformCredentials,
    production: str,
    sandbox: str,
    connect: float,
    read: float,
) -> Client:
    # One client per app secret and process; the client pools its keep-alive connection.
    return Client(
        credentials.secret.value,
        endpoints=Endpoints(production=production, sandbox=sandbox),
        timeout=httpx.Timeout(read, connect=connect),
    )


def client_for(credentials: conf.PlatformCredentials, settings: conf.Settings) -> Client:
    return _client(
        credentials,
        settings.production_url,
        settings.sandbox_url,
        settings.connect_timeout,
        settings.read_timeout,
    )


def mask(target: str) -> str:
    """Enough of a device target to tell two apart in a log, not enough to reuse it."""
    return target[:3] + "****" + target[-2:] if len(target) > 6 else "****"


def failure_of(error: MiPushError) -> Failure:
    reason = error.reason or error.description or str(error)
    return Failure(
        category=str(error.category),
        reason=reason,
        code=error.code,
        trace_id=error.trace_id or "",
        http_status=error.http_status,
    )


def group_key(entry: Entry) -> tuple:
    """Units that may share one request: one app secret, platform, host and target type."""
    unit = entry.unit
    return (unit.credentials, unit.platform, unit.environment, unit.target_type)


def quick_retries(settings: conf.Settings) -> Retrying:
    """A few quick repeats of one request within the run, for transient failures only."""
    policy = settings.retry
    return Retrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(policy.quick_attempts)
        | stop_after_delay(policy.quick_budget_seconds),
        wait=wait_random_exponential(
            multiplier=policy.quick_base_seconds, max=policy.quick_budget_seconds
        ),
        reraise=True,
    )


def _transient(error: BaseException) -> bool:
    # Throttling waits for the longer backoff (asking again at once makes it worse); a quota is
    # the kind's call. Neither says the host is down.
    return isinstance(error, TransientError) and not isinstance(error, ThrottledError)


def send(entries: Sequence[Entry], settings: conf.Settings, sent: Sent, deadline: float) -> None:
    """Give every entry of one group its answer, in as few requests as Xiaomi allows.

    No request starts after ``deadline`` (``time.monotonic``): those entries answer OutOfTime."""
    if time.monotonic() > deadline:
        _answer(entries, OutOfTime(0.0))
        return
    try:
        result = _request(entries, settings, sent)
    except ratelimit.Later as later:
        _answer(entries, later)
    except SPLITTABLE as error:
        if len(entries) > 1:
            half = len(entries) // 2
            log.warning(
                "xiaomi refused a group; splitting it",
                extra={"events": len(entries), "problem": str(error)[:200]},
            )
            send(entries[:half], settings, sent, deadline)
            send(entries[half:], settings, sent, deadline)
        else:
            _refused(entries[0], error)
    except MiPushError as error:
        failure = failure_of(error)
        level = logging.ERROR if isinstance(error, ConfigurationError) else logging.WARNING
        log.log(level, "xiaomi refused a send", extra=_log_fields(entries) | _code(failure))
        _answer(entries, failure)
    except (TypeError, ValueError) as error:
        # The client refuses a malformed secret before any request; its message never holds it.
        log.error(
            "no client for this app secret", extra=_log_fields(entries) | {"problem": str(error)}
        )
        _answer(
            entries, Failure("configuration", f"{entries[0].unit.platform} client refused: {error}")
        )
    else:
        _answer(entries, result)
        if len(entries) == 1 and result.bad_regids and entries[0].unit.target_type == "regid":
            # Accepted for the others; only the named regids' devices stop being sent to.
            unit = entries[0].unit
            retired = devices.deactivate(
                unit.device_ids, BAD_REGID_REASON, regids=result.bad_regids
            )
            log.warning(
                "xiaomi named unknown regids", extra=_log_fields(entries) | {"deactivated": retired}
            )


def _answer(entries: Sequence[Entry], answer: Any) -> None:
    for entry in entries:
        entry.answer = answer


def _refused(entry: Entry, error: Exception) -> None:
    """A single unit refused for its own message or targets: its final answer."""
    if isinstance(error, MiPushError):
        failure = failure_of(error)
        log.warning("xiaomi refused a send", extra=_log_fields([entry]) | _code(failure))
        if isinstance(error, InvalidTargetError):
            reason = f"Xiaomi {failure.code}: {failure.reason}"
            devices.deactivate(entry.unit.device_ids, reason)
    else:
        # A stored target the client refuses (a comma or control character in an alias): that
        # unit cannot be sent, the recipient's other units still can.
        failure = Failure("bad_request", str(error))
        log.error(
            "unit refused before sending", extra=_log_fields([entry]) | {"problem": str(error)}
        )
    entry.answer = failure


def _request(entries: Sequence[Entry], settings: conf.Settings, sent: Sent) -> SendResult:
    """One request for the group, with quick repeats; each try is recorded on every event in it."""
    first = entries[0]
    unit, app_name = first.unit, first.delivery.app_name
    assert unit.credentials is not None
    client = client_for(unit.credentials, settings)
    breaker = outage.breaker(settings.outage)
    flag = [e.delivery for e in entries if e.maybe_sent]
    for try_ in quick_retries(settings):
        with try_:
            ticket = breaker.ask(unit.platform, unit.environment)  # may raise Outage
            ratelimit.acquire(app_name, unit.platform)  # may raise Deferred
            if flag:
                deliveries.mark_possible_duplicates(flag)
            started = attempt_rows.start([(e.delivery, e.unit) for e in entries])
            sent.requests += 1
            for entry in entries:
                entry.requests += 1
            try:
                result = _call(client, entries)
            except MiPushError as error:
                ratelimit.feedback(app_name, unit.platform, error.code)
                if _transient(error):
                    breaker.failed(ticket)
                else:
                    sent.outages_ended |= breaker.succeeded(ticket)  # it answered
                failure = failure_of(error)
                attempt_rows.failed(started, failure, maybe_delivered=error.maybe_delivered)
                metrics.request_finished(started, error.code or error.category, len(entries))
                if error.maybe_delivered:  # the next try may repeat what Xiaomi took
                    flag = [e.delivery for e in entries]
                raise
            except InvalidMessageError as error:
                attempt_rows.failed(started, Failure("bad_request", str(error)))
                raise
            sent.outages_ended |= breaker.succeeded(ticket)
            attempt_rows.sent(
                started,
                message_id=result.message_id or "",
                trace_id=result.trace_id or "",
                http_status=result.http_status,
            )
            metrics.request_finished(started, 0, len(entries))
    log.info(
        "sent",
        extra=_log_fields(entries) | {"message_id": result.message_id, "trace_id": result.trace_id},
    )
    return result


def _call(client: Client, entries: Sequence[Entry]) -> SendResult:
    """The HTTP request: one message to a unit's targets, or one message per event's target."""
    unit = entries[0].unit
    environment = Environment(unit.environment)
    if len(entries) == 1:
        send_to = client.send_to_regid if unit.target_type == "regid" else client.send_to_alias
        return send_to(entries[0].fields, list(unit.targets), environment=environment)[0]
    items = [(target, entry.fields) for entry in entries for target in entry.unit.targets]
    [result] = client.send_multi(items, target_type=unit.target_type, environment=environment)
    if result.quota_dropped != 0:
        raise _over_quota(result, len(items))
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


def _log_fields(entries: Sequence[Entry]) -> dict[str, Any]:
    unit = entries[0].unit
    fields: dict[str, Any] = {"platform": unit.platform, "environment": unit.environment}
    if len(entries) == 1:
        fields["delivery_id"] = str(entries[0].delivery.event_id)
        fields["targets"] = [mask(t) for t in unit.targets]
    else:
        fields["events"] = len(entries)
    return fields


def _code(failure: Failure) -> dict[str, Any]:
    return {"code": failure.code, "category": failure.category, "trace_id": failure.trace_id}


def chunks(group: list[Entry], size: int) -> list[list[Entry]]:
    """A group cut into requests of at most ``size`` targets (Xiaomi takes up to 1,000)."""
    found: list[list[Entry]] = [[]]
    targets = 0
    for entry in group:
        if found[-1] and targets + len(entry.unit.targets) > size:
            found.append([])
            targets = 0
        found[-1].append(entry)
        targets += len(entry.unit.targets)
    return [c for c in found if c]
