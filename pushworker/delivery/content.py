"""A kind's notification → Xiaomi form fields, and the text helpers that keep it within limits.

Pure: no database, no network. Each event kind (``pushworker.events``) says what its notification
says; this module says how any notification becomes Android and iOS form fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pushworker.conf.types import ReceiptSettings
from pushworker.events import text
from pushworker.mipush import Message

# Xiaomi counts length like Java does, in UTF-16 units: title < 50, description < 128.
DESCRIPTION_MAX_UNITS = 127
_ELLIPSIS = "…"
CALLBACK_PARAM_MAX_BYTES = 64


@dataclass(frozen=True)
class Notification:
    """What the phone shows and how long Xiaomi keeps trying to reach it."""

    title: str
    description: str
    extra: dict[str, str]
    time_to_live_ms: int
    notify_id: int  # Android only: a repeated send with the same id replaces the first
    channel_id: str | None = None  # Android 8+ notification channel; None keeps Xiaomi's default
    badge: int = 1
    time_to_send_ms: int | None = None  # epoch ms: Xiaomi shows it then (quiet hours' end)


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clean(name: str) -> str:
    """The boundary's cleaning (``events.text``) again: a resolved nickname comes unchecked."""
    return text.clean(name)


def shorten(text: str, max_units: int) -> str:
    """``text`` cut at a character boundary to at most ``max_units`` UTF-16 units, ending in '…'."""
    if utf16_units(text) <= max_units:
        return text
    kept, used = [], utf16_units(_ELLIPSIS)
    for char in text:
        units = utf16_units(char)
        if used + units > max_units:
            break
        kept.append(char)
        used += units
    return "".join(kept).rstrip() + _ELLIPSIS


def notify_id(event_id: str) -> int:
    """A stable per-event notification id: a repeated send replaces the first on the phone."""
    return int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:4], "big") % (2**31 - 1) + 1


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
