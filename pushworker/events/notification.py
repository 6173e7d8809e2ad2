"""What a kind's notification says, and the text helpers that keep it within Xiaomi's limits. Pure.

Each event kind (``pushworker.events``) returns a :class:`Notification`; ``delivery.content`` turns
it into Android and iOS form fields.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pushworker.events import text

# Xiaomi counts length like Java does, in UTF-16 units: title < 50, description < 128.
DESCRIPTION_MAX_UNITS = 127
_ELLIPSIS = "…"


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
