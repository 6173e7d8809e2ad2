"""How the admin words and colours a delivery: status badges, times, latency, one-line outcomes.

Times are shown in the admin's zone, the default app's ``TIMEZONE``: the zone of its daily cap's
day, which is what an operator's "yesterday" means. The zone's name follows each time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils.html import format_html

from pushworker import conf
from pushworker.mipush.meanings import meaning
from pushworker.store.models import Delivery, DeliveryStatus

# Statuses as an operator asks about them; "not delivered" includes the deliberate suppression.
GROUPS = {
    "delivered": ("Delivered", (DeliveryStatus.SENT,)),
    "not_delivered": (
        "Not delivered",
        (DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.SUPPRESSED),
    ),
    "in_progress": (
        "In progress",
        (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING),
    ),
}
REQUEUEABLE = (DeliveryStatus.FAILED, DeliveryStatus.DEAD)

# Background colours with enough contrast for white text (WCAG AA on small bold text).
COLOURS = {
    DeliveryStatus.SENT: "#1e7b34",
    DeliveryStatus.SUPPRESSED: "#5f6b76",
    DeliveryStatus.QUEUED: "#3a5f8f",
    DeliveryStatus.SENDING: "#3a5f8f",
    DeliveryStatus.RETRYING: "#8a5a00",
    DeliveryStatus.FAILED: "#b02a37",
    DeliveryStatus.DEAD: "#6f1d1b",
}


def badge(status: str) -> str:
    return format_html(
        '<span class="pw-status pw-{}" style="background:{};color:#fff;padding:1px 6px;'
        'border-radius:3px;font-weight:bold;white-space:nowrap">{}</span>',
        status,
        COLOURS.get(status, "#5f6b76"),
        status,
    )


# What a failure category means when Xiaomi gave no code (an error code has its own meaning).
CATEGORY_MEANINGS = {
    "transient": "no usable answer: refused or reset connection, timeout, HTTP 5xx, busy",
    "throttled": "Xiaomi's rate limit",
    "quota": "Xiaomi's daily quota is spent",
    "invalid_target": "Xiaomi does not know the device",
    "configuration": "app secret, package or host refused",
    "bad_request": "the message or a target was refused",
    "no_device": "the recipient has no active device",
    "poison": "a worker died while sending it, again and again",
    "rate_limited": "waiting for the shared rate limit",
    "quiet_hours": "held until the quiet hours end",
}


def zone(app_name: str | None = None) -> ZoneInfo:
    """The time zone of ``app_name`` (the default app's: the admin's); UTC for an app the
    settings no longer have."""
    try:
        return conf.get().app(app_name).policy.zone
    except (KeyError, conf.SettingsError):
        return ZoneInfo("UTC")


def when(moment: datetime | None, tz: ZoneInfo | None = None) -> str:
    """Seconds and the zone's name, in the admin's zone unless ``tz``: "2026-12-01 11:50:08 CST"."""
    if moment is None:
        return "–"
    return moment.astimezone(tz or zone()).strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "–"
    return span(end - start)


def span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def code_text(code: int | None) -> str:
    return f"{code} {meaning(code)}" if code is not None else ""


def category_text(category: str) -> str:
    return CATEGORY_MEANINGS.get(category, category.replace("_", " "))


def mark_of_test_push(delivery: Delivery) -> str:
    """A grey "test" mark beside an operator's test push (empty for any other delivery)."""
    if not delivery.test_push:
        return ""
    return format_html(
        '<span class="pw-test" title="{}" style="border:1px solid #5f6b76;color:#5f6b76;'
        'padding:0 4px;border-radius:3px;font-size:.85em;white-space:nowrap">test</span>',
        "A test push from the admin: the delivery policy does not apply",
    )


def _failure(delivery: Delivery) -> str:
    parts = [code_text(delivery.error_code) or delivery.error_reason or "no answer"]
    if delivery.error_code is not None and delivery.error_reason:
        parts.append(f"“{delivery.error_reason[:80]}”")
    return " ".join(parts)


def outcome(delivery: Delivery) -> str:
    """One line an operator can read: what happened, Xiaomi's code in words, and why it stopped."""
    status = delivery.status
    times = f"retried {delivery.retries}×" if delivery.retries else "not retried"
    if status == DeliveryStatus.SENT:
        text = "sent" + (f" after {delivery.attempts} requests" if delivery.attempts > 1 else "")
        if delivery.error_code is not None:  # sent to some devices, refused for others
            text += f"; another device: {code_text(delivery.error_code)}"
        return text + ("; possible duplicate" if delivery.possible_duplicate else "")
    if status == DeliveryStatus.SUPPRESSED:
        return delivery.error_reason or "suppressed"
    if status == DeliveryStatus.QUEUED:
        return "waiting for the broker" if delivery.published_at is None else "queued for a worker"
    if status == DeliveryStatus.SENDING:
        return "a worker is sending it"
    if status == DeliveryStatus.RETRYING:
        return f"{_failure(delivery)} ({delivery.error_category}, {times}); next try " + when(
            delivery.next_attempt_at
        )
    if status == DeliveryStatus.DEAD:
        return dead_reason(delivery)
    category = delivery.error_category or "failed"
    return f"{_failure(delivery)} ({category}, {times})"


def dead_reason(delivery: Delivery) -> str:
    """Why a delivery was given up: its crash budget or its retry budget ran out."""
    if delivery.error_category == "poison":
        return (
            f"crash budget spent: a worker died {delivery.crashes}× while sending it "
            "(PUSHWORKER_MAX_CRASHES)"
        )
    return (
        f"{_failure(delivery)} ({delivery.error_category or 'transient'}); retry budget spent "
        f"after {delivery.retries} retries (PUSHWORKER_RETRY_MAX)"
    )
