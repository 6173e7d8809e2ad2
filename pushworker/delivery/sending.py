"""The mechanics of one send: a cached client per app secret, quick in-task retries, masked logs.

The service decides what to send and what the outcome means; this module makes one request (or a
few quick repeats of it) to Xiaomi for one send unit and records each request as an attempt.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_random_exponential

from pushworker import conf
from pushworker.delivery import content, ratelimit, routing
from pushworker.mipush import (
    Client,
    ConfigurationError,
    Endpoints,
    Environment,
    InvalidMessageError,
    InvalidTargetError,
    MiPushError,
    SendResult,
    ThrottledError,
    TransientError,
)
from pushworker.ops import metrics
from pushworker.store import records
from pushworker.store.models import Delivery
from pushworker.store.records import Failure

log = logging.getLogger("pushworker.delivery")
BAD_REGID_REASON = "Xiaomi bad_regids: unknown registration id"


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


def fields_for(note: content.Notification, unit: routing.SendUnit) -> dict[str, str]:
    """The unit's form fields; raises ``InvalidMessageError`` when its platform's rules refuse."""
    assert unit.credentials is not None
    build = content.ios_fields if unit.platform == "ios" else content.android_fields
    return build(note, package=unit.credentials.package)


def _is_quick_retryable(error: BaseException) -> bool:
    # Throttling waits for the broker's longer backoff; asking again at once makes it worse.
    return isinstance(error, TransientError) and not isinstance(error, ThrottledError)


def send_unit(
    delivery: Delivery,
    unit: routing.SendUnit,
    fields: dict[str, str],
    settings: conf.Settings,
    *,
    maybe_sent: bool = False,
) -> Failure | SendResult:
    """Send one unit with quick in-task retries: Xiaomi's answer, or why it was not accepted.

    ``maybe_sent``: an earlier request for this unit may have reached Xiaomi, so sending it again
    flags the delivery as a possible duplicate. Every refusal comes back as a :class:`Failure`,
    also one raised before a request could be made (a client refusing its secret or the unit's
    targets): a bad unit is an outcome for that unit, never a crash of the delivery.
    """
    assert unit.credentials is not None
    fields = fields | content.callback_fields(delivery.event_id, settings.receipts)
    log_fields = {
        "delivery_id": str(delivery.event_id),
        "platform": unit.platform,
        "environment": unit.environment,
        "targets": [mask(t) for t in unit.targets],
    }
    try:
        client = client_for(unit.credentials, settings)
    except (TypeError, ValueError) as error:
        # The client refuses a malformed secret before any request; its message never holds it.
        log.error("no client for this app secret", extra=log_fields | {"problem": str(error)})
        return Failure("configuration", f"{unit.platform} client refused: {error}")
    try:
        result = _send(delivery, unit, client, fields, settings, maybe_sent)
    except MiPushError as error:
        failure = failure_of(error)
        level = logging.ERROR if isinstance(error, ConfigurationError) else logging.WARNING
        log.log(
            level,
            "xiaomi refused a send",
            extra=log_fields
            | {"code": failure.code, "category": failure.category, "trace_id": failure.trace_id},
        )
        if isinstance(error, InvalidTargetError):
            records.deactivate_devices(unit.device_ids, f"Xiaomi {failure.code}: {failure.reason}")
        return failure
    except InvalidMessageError as error:
        # A stored target the client refuses (a comma or control character in an alias): that
        # unit cannot be sent, the owner's other units still can.
        log.error("unit refused before sending", extra=log_fields | {"problem": str(error)})
        return Failure("bad_request", str(error))
    log.info(
        "sent", extra=log_fields | {"message_id": result.message_id, "trace_id": result.trace_id}
    )
    if result.bad_regids and unit.target_type == "regid":
        # Accepted for the others; only the named regids' devices stop being sent to.
        retired = records.deactivate_devices(
            unit.device_ids, BAD_REGID_REASON, regids=result.bad_regids
        )
        log.warning("xiaomi named unknown regids", extra=log_fields | {"deactivated": retired})
    return result


def quick_retries(settings: conf.Settings) -> Retrying:
    """A few quick repeats of one request within the task, for transient failures only."""
    policy = settings.retry
    return Retrying(
        retry=retry_if_exception(_is_quick_retryable),
        stop=stop_after_attempt(policy.quick_attempts)
        | stop_after_delay(policy.quick_budget_seconds),
        wait=wait_random_exponential(
            multiplier=policy.quick_base_seconds, max=policy.quick_budget_seconds
        ),
        reraise=True,
    )


def _send(
    delivery: Delivery,
    unit: routing.SendUnit,
    client: Client,
    fields: dict[str, str],
    settings: conf.Settings,
    maybe_sent: bool,
) -> SendResult:
    send = client.send_to_regid if unit.target_type == "regid" else client.send_to_alias
    environment = Environment(unit.environment)
    for try_ in quick_retries(settings):
        with try_:
            ratelimit.acquire(delivery.app_name, unit.platform)  # may raise Deferred
            if maybe_sent:
                records.mark_possible_duplicate(delivery)
            attempt = records.start_attempt(
                delivery,
                key=unit.key,
                platform=unit.platform,
                environment=unit.environment,
                target_type=unit.target_type,
                targets=",".join(unit.targets),
            )
            try:
                result = send(fields, list(unit.targets), environment=environment)[0]
            except MiPushError as error:
                ratelimit.feedback(delivery.app_name, unit.platform, error.code)
                records.attempt_failed(
                    attempt, failure_of(error), maybe_delivered=error.maybe_delivered
                )
                metrics.request_finished(attempt, error.code or error.category)
                maybe_sent = maybe_sent or error.maybe_delivered
                raise
            except InvalidMessageError as error:
                records.attempt_failed(attempt, Failure("bad_request", str(error)))
                raise
            records.attempt_sent(
                attempt,
                message_id=result.message_id or "",
                trace_id=result.trace_id or "",
                http_status=result.http_status,
            )
            metrics.request_finished(attempt, 0)
    return result
