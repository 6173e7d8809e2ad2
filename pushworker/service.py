"""The deciding middle: claim a delivery, build the message, send unit by unit, record the outcome.

No Celery here. The task hands in the event and how often the broker has tried; this module answers
with an :class:`Outcome` that says whether the broker should try again and when.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from functools import lru_cache

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_random_exponential

from pushworker import conf, content, nicknames, records, routing
from pushworker.events import GoodsVisit
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
from pushworker.models import Delivery, DeliveryStatus, PushDevice
from pushworker.records import Failure

log = logging.getLogger("pushworker.delivery")


@dataclass(frozen=True)
class Outcome:
    """What the run decided: a terminal status, or a retry after ``countdown`` seconds."""

    status: str
    countdown: float | None = None

    @property
    def retry(self) -> bool:
        return self.countdown is not None


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


def _failure(error: MiPushError) -> Failure:
    reason = error.reason or error.description or str(error)
    return Failure(
        category=str(error.category),
        reason=reason,
        code=error.code,
        trace_id=error.trace_id or "",
        http_status=error.http_status,
    )


def _is_quick_retryable(error: BaseException) -> bool:
    # Throttling waits for the broker's longer backoff; asking again at once makes it worse.
    return isinstance(error, TransientError) and not isinstance(error, ThrottledError)


def _send_unit(
    delivery: Delivery,
    unit: routing.SendUnit,
    fields: dict[str, str],
    settings: conf.Settings,
    *,
    maybe_sent: bool = False,
) -> Failure | SendResult:
    """Send one unit with quick in-task retries: Xiaomi's answer, or why it was not accepted.

    ``maybe_sent``: an earlier request for this unit may have reached Xiaomi, so sending it again
    flags the delivery as a possible duplicate.
    """
    assert unit.credentials is not None
    client = client_for(unit.credentials, settings)
    send = client.send_to_regid if unit.target_type == "regid" else client.send_to_alias
    environment = Environment(unit.environment)
    policy = settings.retry
    retrying = Retrying(
        retry=retry_if_exception(_is_quick_retryable),
        stop=stop_after_attempt(policy.quick_attempts)
        | stop_after_delay(policy.quick_budget_seconds),
        wait=wait_random_exponential(
            multiplier=policy.quick_base_seconds, max=policy.quick_budget_seconds
        ),
        reraise=True,
    )
    log_fields = {
        "delivery_id": str(delivery.event_id),
        "platform": unit.platform,
        "environment": unit.environment,
        "targets": [mask(t) for t in unit.targets],
    }
    try:
        for try_ in retrying:
            with try_:
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
                    records.attempt_failed(
                        attempt, _failure(error), maybe_delivered=error.maybe_delivered
                    )
                    maybe_sent = maybe_sent or error.maybe_delivered
                    raise
                records.attempt_sent(
                    attempt,
                    message_id=result.message_id or "",
                    trace_id=result.trace_id or "",
                    http_status=result.http_status,
                )
    except MiPushError as error:
        failure = _failure(error)
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
    log.info(
        "sent", extra=log_fields | {"message_id": result.message_id, "trace_id": result.trace_id}
    )
    return result


def _fields(event: GoodsVisit, unit: routing.SendUnit, nickname: str) -> dict[str, str]:
    assert unit.credentials is not None
    build = content.ios_fields if unit.platform == "ios" else content.android_fields
    return build(
        event_id=event.event_id,
        nickname=nickname,
        goods_id=event.goods_id,
        goods_name=event.goods_name,
        package=unit.credentials.package,
    )


def _nickname(event: GoodsVisit, settings: conf.Settings) -> str:
    # A name that cleans to nothing (only control characters) would show as "【】".
    if event.visitor_name and content.clean(event.visitor_name):
        return event.visitor_name
    name = nicknames.load(settings.nickname_resolver)(event.visitor_id)
    return name if name and content.clean(name) else settings.unknown_visitor_name


def deliver(event: GoodsVisit, *, redelivered: bool = False, retried: bool = False) -> Outcome:
    """Deliver one goods-visit event; safe to call again for the same event at any time.

    A request is made only after the delivery row was claimed by this run, and a unit that Xiaomi
    already accepted is never requested again. The only repeat possible is a unit whose request was
    cut by a crash or failed after it may have reached Xiaomi (a read timeout, a 500): it is sent
    again (on Android with the same ``notify_id``) and the row is flagged. A ``retried`` message
    whose row is gone was purged after it finished: it ends as ``purged`` without a request.
    """
    settings = conf.get()
    try:
        app = settings.app(event.app_name)
    except KeyError as error:
        delivery, _ = records.ensure(event, event.app_name or settings.default_app)
        return _end(delivery, DeliveryStatus.FAILED, Failure("configuration", str(error.args[0])))
    delivery, _ = records.ensure(event, app.name, create=not retried)
    if delivery is None:
        return Outcome("purged")
    if delivery.status in (
        DeliveryStatus.SENT,
        DeliveryStatus.SUPPRESSED,
        DeliveryStatus.FAILED,
        DeliveryStatus.DEAD,
    ):
        return Outcome(delivery.status)
    if not records.claim(
        delivery, redelivered=redelivered, lease_seconds=settings.claim_lease_seconds
    ):
        # Another live run holds it: look again once that run's lease is over, but no later than
        # the retry cap: a longer countdown would outlive Redis's visibility timeout.
        countdown = min(settings.claim_lease_seconds, settings.retry.cap_seconds)
        return Outcome(DeliveryStatus.SENDING, countdown=countdown)
    # A delivery that never made a request (the usual case) has no history worth a query.
    past = records.history(delivery) if delivery.attempts else records.History()
    if delivery.crashes >= settings.max_crashes:
        return _end(
            delivery,
            DeliveryStatus.DEAD,
            Failure(
                "poison", f"a worker died {delivery.crashes} times while delivering this event"
            ),
        )

    if event.owner_id == event.visitor_id:
        return _end(
            delivery, DeliveryStatus.SUPPRESSED, Failure("suppressed", "owner viewed own goods")
        )
    devices = list(
        PushDevice.objects.filter(
            user_id=event.owner_id, app_name=app.name, is_active=True
        ).order_by("-modify_time")
    )
    if not devices:
        return _end(delivery, DeliveryStatus.FAILED, Failure("no_device", "no device"))

    nickname = _nickname(event, settings)
    accepted: list[SendResult] = []
    retryable: list[Failure] = []
    permanent: list[Failure] = []
    for unit in routing.plan(devices, app):
        if unit.key in past.sent:
            continue
        if unit.credentials is None:
            log.error("no sender configured", extra={"app": app.name, "platform": unit.platform})
            permanent.append(
                Failure("configuration", f"app {app.name!r} has no {unit.platform} credentials")
            )
            continue
        try:
            fields = _fields(event, unit, nickname)
        except InvalidMessageError as error:
            permanent.append(Failure("bad_request", str(error)))
            continue
        answer = _send_unit(
            delivery, unit, fields, settings, maybe_sent=unit.key in past.maybe_sent
        )
        if isinstance(answer, SendResult):
            accepted.append(answer)
        elif answer.category in ("transient", "throttled"):
            retryable.append(answer)
        else:
            permanent.append(answer)

    if retryable:
        # The row counts broker retries spent on failures; Celery's own count also includes
        # waits for another run's claim, which must not eat the budget.
        if delivery.retries < settings.retry.max_retries:
            throttled = any(f.category == "throttled" for f in retryable)
            ceiling = settings.retry.countdown_ceiling(delivery.retries, throttled)
            countdown = random.uniform(0, ceiling)
            records.park_for_retry(delivery, retryable[0], countdown)
            return Outcome(DeliveryStatus.RETRYING, countdown=countdown)
        return _end(delivery, DeliveryStatus.DEAD, retryable[0])
    if accepted or past.sent:
        return _end(
            delivery,
            DeliveryStatus.SENT,
            permanent[0] if permanent else None,
            accepted[0] if accepted else None,
        )
    return _end(delivery, DeliveryStatus.FAILED, permanent[0])


def _end(
    delivery: Delivery, status: str, failure: Failure | None, answer: SendResult | None = None
) -> Outcome:
    """Finish the delivery; a sent one keeps Xiaomi's ids (an earlier run's if none now)."""
    message_id, trace_id = (answer.message_id or "", answer.trace_id or "") if answer else ("", "")
    if status == DeliveryStatus.SENT and answer is None:
        earlier = delivery.attempt_set.filter(status="sent").order_by("-pk").first()
        if earlier:
            message_id, trace_id = earlier.message_id, earlier.trace_id
    records.finish(delivery, status, failure=failure, message_id=message_id, trace_id=trace_id)
    log.info(
        "finished",
        extra={
            "delivery_id": str(delivery.event_id),
            "status": status,
            "code": failure.code if failure else None,
        },
    )
    return Outcome(status)
