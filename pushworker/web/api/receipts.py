"""Xiaomi's delivery receipts (mipush-api.md §5.3): ``POST /api/v1/receipts/<RECEIPTS_TOKEN>``.

Xiaomi POSTs a form whose field ``data`` holds JSON keyed by message id, each entry with ``type``,
``targets``, ``param`` (the event id pushworker sent) and ``timestamp`` (ms). Xiaomi signs
nothing: the unguessable token in the path is the authentication, compared in constant time with
RECEIPTS_TOKEN and, during a rotation, RECEIPTS_PREVIOUS_TOKEN; a wrong token (or receipts off) is
a 404, as for any unknown path.

The token is no proof that a receipt is true: it travels in every message's ``extra.callback``,
so every phone sees it, along with its own message's id and ``param``. So a receipt applies only
to what its own delivery did: ``param`` names the delivery, which must have sent the message the
receipt is keyed by (or be sending it still: Xiaomi's receipt may come before the worker has
recorded its answer), and only the ``targets`` that delivery's attempts sent to count. Anything
else changes nothing and is answered like the rest, 200 ``ok``: the answer says nothing about
what was found. Every update is conditional, so a receipt arriving twice changes nothing the
second time:
- 1 delivered / 2 clicked: the delivery's ``delivered_at`` / ``clicked_at``, the first one only
  (a click implies delivery);
- 16 invalid target: the devices of the delivery's app that those targets name are deactivated;
- 32, 64, 128, 1024 (push off, filtered, over quota, expired): counted, nothing stored.

A request holds at most :data:`MAX_RECEIPTS` receipts (the rest are counted as skipped) and writes
one summary line, however many it holds.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from pushworker import conf
from pushworker.store import devices as device_records
from pushworker.store.models import AttemptStatus, Delivery, DeliveryAttempt, PushDevice

log = logging.getLogger("pushworker.receipts")
DELIVERED, CLICKED, INVALID_TARGET = 1, 2, 16
INVALID_KINDS = {1: "invalid regid", 2: "invalid alias", 3: "invalid user account"}
# Xiaomi sends what accumulated in about a second; a thousand is far beyond one app's second, and
# bounds what one request can cost (14,000 forged receipts kept a web worker busy for 11 s).
MAX_RECEIPTS = 1000
MESSAGE_ID_LENGTH = DeliveryAttempt._meta.get_field("message_id").max_length


@csrf_exempt
def receive(request: HttpRequest, token: str) -> HttpResponse:
    if not conf.get().receipts.accepts(token):
        raise Http404
    if request.method != "POST":
        return _unlogged(HttpResponseNotAllowed(["POST"]))
    try:
        entries = json.loads(request.POST["data"])
    except KeyError:
        return _refused("This field is required.")
    except RequestDataTooBig:
        return _refused("The request body is too large.", status=413)
    except (ValueError, RecursionError):
        return _refused("Must be JSON.")
    if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        return _refused("Must be a JSON object of message id → receipt.")
    outcomes = apply_all(entries)
    log.info("receipts", extra={"receipts": len(entries), **outcomes})
    return HttpResponse("ok", content_type="text/plain")


def _refused(problem: str, status: int = 400) -> HttpResponse:
    log.warning("receipts refused: data: %s", problem)
    return _unlogged(JsonResponse({"data": [problem]}, status=status))


def _unlogged(response: HttpResponse) -> HttpResponse:
    # Django logs a 4xx with the request path, and this path holds the token: said above instead.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def apply_all(entries: dict[str, Any]) -> dict[str, int]:
    """Apply up to :data:`MAX_RECEIPTS` receipts; how many ended which way (for one log line)."""
    outcomes: Counter[str] = Counter()
    taken = list(entries.items())[:MAX_RECEIPTS]
    outcomes["skipped"] = len(entries) - len(taken)
    for message_id, entry in taken:
        try:
            outcomes[apply(str(message_id), entry)] += 1
        except Exception:  # noqa: BLE001 - one bad receipt must not drop the rest, nor log a 500
            # (Django's 500 line would carry this path, and the path carries the token).
            if not outcomes["failed"]:  # the first one's traceback; the count says the rest
                log.exception("receipt not applied", extra={"message_id": str(message_id)[:64]})
            outcomes["failed"] += 1
    return dict(outcomes)


def apply(message_id: str, entry: dict[str, Any]) -> str:
    """Apply one receipt: ``applied``, ``repeated`` (nothing left to change), ``unmatched``
    (no delivery of its ``param`` sent this message to these targets) or ``ignored`` (a type
    stored nowhere)."""
    kind = _int(entry.get("type"))
    if kind not in (DELIVERED, CLICKED, INVALID_TARGET):  # stored nowhere: no lookup either
        return "ignored"
    found = _own(message_id, entry.get("param"), entry.get("targets"))
    if found is None:
        return "unmatched"
    delivery, targets = found
    if kind in (DELIVERED, CLICKED):
        at = _time(entry.get("timestamp"))
        rows = Delivery.objects.filter(pk=delivery.pk)
        changed = rows.filter(delivered_at__isnull=True).update(delivered_at=at)
        if kind == CLICKED:
            changed += rows.filter(clicked_at__isnull=True).update(clicked_at=at)
    else:
        code = _int(entry.get("errorCode"))
        reason = f"Xiaomi receipt 16: {INVALID_KINDS.get(code, 'invalid target')}"
        changed = device_records.deactivate(_devices(delivery, targets), reason)
    return "applied" if changed else "repeated"


def _own(message_id: str, param: Any, targets: Any) -> tuple[Delivery, set[str]] | None:
    """The delivery ``param`` names and the named targets it sent message ``message_id`` to.

    None unless ``param`` is a delivery's event id, one of its attempts carries the message id
    (or is still waiting for Xiaomi's answer), and that attempt sent to a named target.
    """
    try:
        event_id = uuid.UUID(str(param))
    except ValueError:
        return None
    if len(message_id) > MESSAGE_ID_LENGTH:  # never one of Xiaomi's ids: it could match cut
        return None
    named = {t.strip() for t in str(targets or "").split(",") if t.strip()}
    in_flight = Q(message_id="", status=AttemptStatus.SENDING)
    attempts = DeliveryAttempt.objects.filter(
        Q(message_id=message_id) | in_flight, delivery__event_id=event_id
    ).select_related("delivery")
    delivery, sent = None, set()
    for attempt in attempts[:100]:  # event ids are unique: the attempts of one delivery
        if mine := named & set(attempt.targets.split(",")):
            delivery, sent = attempt.delivery, sent | mine
    return (delivery, sent) if delivery is not None else None


def _devices(delivery: Delivery, targets: set[str]) -> tuple[int, ...]:
    """The delivery's app's active devices that ``targets`` (regids or aliases) name."""
    prefix = conf.get().app(delivery.app_name).alias_prefix
    # A device without a stored alias is reached by prefix + user id (routing.target_of).
    users = [t[len(prefix) :] for t in targets if t.startswith(prefix)]
    aliases = Q(registration_id="") & (Q(alias__in=targets) | Q(alias="", user_id__in=users))
    devices = PushDevice.objects.filter(
        Q(registration_id__in=targets) | aliases, app_name=delivery.app_name, is_active=True
    )
    return tuple(devices.values_list("pk", flat=True))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time(value: Any) -> datetime:
    millis = _int(value)
    if millis is None or millis <= 0:
        return timezone.now()
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):  # a clock no datetime can hold
        return timezone.now()
