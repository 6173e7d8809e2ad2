"""A kind's notification → Xiaomi form fields for Android and iOS, and the receipt fields.

Pure: no database, no network. Each event kind (``pushworker.events``) says what its notification
says (:class:`pushworker.events.notification.Notification`); this module says how any
notification becomes form fields.
"""

from __future__ import annotations

from pushworker.conf.types import ReceiptSettings
from pushworker.events.notification import Notification
from pushworker.mipush import Message

CALLBACK_PARAM_MAX_BYTES = 64


def android_fields(note: Notification, *, package: str) -> dict[str, str]:
    """Form fields of the Android notification (the seed's message plus a stable notify id)."""
    message = (
        Message()
        .restricted_package_name(package)
        .title(note.title)
        .description(note.description)
        .pass_through(0)
        .notify_id(note.notify_id)
        .time_to_live(note.time_to_live_ms)
    )
    if note.channel_id:
        message = message.channel_id(note.channel_id)
    if note.time_to_send_ms is not None:
        message = message.time_to_send(note.time_to_send_ms)
    return message.extra(note.extra).android_fields()


def ios_fields(note: Notification, *, package: str) -> dict[str, str]:
    """Form fields of the iOS notification: the seed's alert and badge, plus an iOS 10 title.

    Xiaomi's iOS messages have no ``notify_id``, so a repeated iOS send cannot replace the first;
    such repeats are still counted and flagged on the delivery.
    """
    message = (
        Message()
        .restricted_package_name(package)
        .description(note.description)
        .aps_title(note.title)
        .aps_body(note.description)
        .badge(note.badge)
        .time_to_live(note.time_to_live_ms)
        .extra(note.extra)
    )
    if note.time_to_send_ms is not None:
        message = message.time_to_send(note.time_to_send_ms)
    return message.ios_fields()


def callback_fields(event_id: object, receipts: ReceiptSettings) -> dict[str, str]:
    """Xiaomi's receipt fields (§5.3), or none while receipts are off (the wire form unchanged).

    The param is the event id (a UUID: 36 bytes, within Xiaomi's 64), so a receipt finds its
    delivery; the URL holds the receipts token.
    """
    if not receipts.enabled:
        return {}
    param = str(event_id)
    if len(param.encode()) > CALLBACK_PARAM_MAX_BYTES:  # never for a UUID; a guard, not a cut
        raise ValueError(f"callback param of {len(param.encode())} bytes is over Xiaomi's 64")
    return {
        "extra.callback": receipts.callback_url(),
        "extra.callback.param": param,
        "extra.callback.type": str(receipts.types),
    }
