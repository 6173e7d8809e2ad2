"""Xiaomi's delivery receipts (mipush-api.md §5.3): ``POST /api/v1/receipts/<RECEIPTS_TOKEN>``.

Xiaomi POSTs a form whose field ``data`` holds JSON keyed by message id, each entry with ``type``,
``targets``, ``param`` (the event id pushworker sent) and ``timestamp`` (ms). Xiaomi signs
nothing: the unguessable token in the path is the authentication, compared in constant time; a
wrong token (or receipts off) is a 404, as for any unknown path. Every update is conditional, so
a receipt arriving twice changes nothing the second time:
- 1 delivered / 2 clicked: the delivery's ``delivered_at`` / ``clicked_at``, the first one only
  (a click implies delivery);
- 16 invalid target: the devices of the delivery's app named in ``targets`` are deactivated;
- 32, 64, 128, 1024 (push off, filtered, over quota, expired): logged, nothing stored.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from pushworker import conf
from pushworker.conf.receipts import TYPES
from pushworker.store import devices
from pushworker.store.models import Delivery, DeliveryAttempt, PushDevice

log = logging.getLogger("pushworker.receipts")
DELIVERED, CLICKED, INVALID_TARGET = 1, 2, 16
INVALID_KINDS = {1: "invalid regid", 2: "invalid alias", 3: "invalid user account"}


@csrf_exempt
def receive(request: HttpRequest, token: str) -> HttpResponse:
    receipts = conf.get().receipts
    expected = receipts.token.value.encode()
    if not receipts.enabled or not hmac.compare_digest(token.encode(), expected):
        raise Http404
    if request.method != "POST":
        return _unlogged(HttpResponseNotAllowed(["POST"]))
    try:
        entries = json.loads(request.POST["data"])
    except KeyError:
        return _refused("This field is required.")
    except ValueError:
        return _refused("Must be JSON.")
    if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        return _refused("Must be a JSON object of message id → receipt.")
    for message_id, entry in entries.items():
        try:
            apply(str(message_id), entry)
        except Exception:  # noqa: BLE001 - one bad receipt must not drop the rest, nor log a 500
            # (Django's 500 line would carry this path, and the path carries the token).
            log.exception("receipt not applied", extra={"message_id": str(message_id)[:64]})
    return HttpResponse("ok", content_type="text/plain")


def _refused(problem: str) -> HttpResponse:
    log.warning("receipt refused: data: %s", problem)
    return _unlogged(JsonResponse({"data": [problem]}, status=400))


def _unlogged(response: HttpResponse) -> HttpResponse:
    # Django logs a 4xx with the request path, and this path holds the token: said above instead.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def apply(message_id: str, entry: dict[str, Any]) -> int:
    """Apply one receipt; returns the rows it changed (0 for a repeat)."""
    kind = _int(entry.get("type"))
    fields = {"message_id": message_id[:64], "receipt_type": kind}
    if kind not in (DELIVERED, CLICKED, INVALID_TARGET):  # stored nowhere: no lookup either
        log.info(f"receipt: {TYPES.get(kind, 'unknown type')}", extra=fields)
        return 0
    delivery = _delivery(message_id, entry.get("param"), entry.get("targets"))
    if delivery is None:
        log.warning("receipt for no known delivery", extra=fields)
        return 0
    fields["delivery_id"] = str(delivery.event_id)
    at = _time(entry.get("timestamp"))
    changed = 0
    if kind in (DELIVERED, CLICKED):
        rows = Delivery.objects.filter(pk=delivery.pk)
        changed = rows.filter(delivered_at__isnull=True).update(delivered_at=at)
        if kind == CLICKED:
            changed += rows.filter(clicked_at__isnull=True).update(clicked_at=at)
    elif kind == INVALID_TARGET:
        code = _int(entry.get("errorCode"))
        reason = f"Xiaomi receipt 16: {INVALID_KINDS.get(code, 'invalid target')}"
        changed = devices.deactivate(_devices(delivery, entry.get("targets")), reason)
    log.info(f"receipt: {TYPES.get(kind, 'unknown type')}", extra=fields | {"changed": changed})
    return changed


def _delivery(message_id: str, param: Any, targets: Any) -> Delivery | None:
    # The param is the event id pushworker sent; an over-quota receipt carries none, so the
    # message id of the attempt that sent it is the way back. A batch's one id is shared by the
    # attempts of all its events: the receipt's targets say whose it is.
    try:
        return Delivery.objects.filter(event_id=uuid.UUID(str(param))).first()
    except ValueError:
        attempts = list(DeliveryAttempt.objects.filter(message_id=message_id[:64])[:1000])
    named = {t.strip() for t in str(targets or "").split(",") if t.strip()}
    for attempt in attempts:
        if named & set(attempt.targets.split(",")):
            return attempt.delivery
    return attempts[0].delivery if attempts else None


def _devices(delivery: Delivery, targets: Any) -> tuple[int, ...]:
    """The delivery's app's active devices that ``targets`` (regids or aliases) name."""
    named = [t.strip() for t in str(targets or "").split(",") if t.strip()]
    if not named:
        return ()
    prefix = conf.get().app(delivery.app_name).alias_prefix
    # A device without a stored alias is reached by prefix + user id (routing.target_of).
    users = [t[len(prefix) :] for t in named if t.startswith(prefix)]
    aliases = Q(registration_id="") & (Q(alias__in=named) | Q(alias="", user_id__in=users))
    devices = PushDevice.objects.filter(
        Q(registration_id__in=named) | aliases, app_name=delivery.app_name, is_active=True
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
