"""A delivery's story in order: the event, each request with its devices, and how it ended.

Attempts record Xiaomi targets (regids, aliases), not device rows, so the devices are found again
by the target each of the owner's devices has (the same rule routing used when sending). A
suppressed delivery says more than its reason: the push it repeats, linked, or when the daily
cap's day ends in the app's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from pushworker import conf
from pushworker.delivery import routing
from pushworker.store import outbox
from pushworker.store.models import Delivery, DeliveryAttempt, DeliveryStatus, PushDevice
from pushworker.web.admin import display


def _summary(delivery: Delivery) -> str:
    """What the event said, in the words of its kind (plain text; escaped by the caller)."""
    try:
        return outbox.event_of(delivery).summary()[:300]
    except (KeyError, TypeError):  # a kind this version does not know, or a rejected message
        return f"{delivery.kind} to user {delivery.recipient_id} about {delivery.subject_id}"


def devices_by_target(delivery: Delivery) -> dict[str, PushDevice]:
    devices = PushDevice.objects.filter(user_id=delivery.recipient_id, app_name=delivery.app_name)
    try:
        app = conf.get().app(delivery.app_name)
    except KeyError:  # an app removed from the settings: regids still identify its devices
        return {d.registration_id: d for d in devices if d.registration_id}
    return {routing.target_of(device, app)[1]: device for device in devices}


def device_link(device: PushDevice) -> str:
    url = reverse("admin:pushworker_pushdevice_change", args=[device.pk])
    state = "active" if device.is_active else "inactive"
    return format_html('<a href="{}">{} device #{}</a> ({})', url, device.os_type, device.pk, state)


def mask(target: str) -> str:
    """Enough of a target to tell devices apart; a regid is a device token, never shown whole."""
    return target if len(target) <= 16 else f"{target[:6]}…{target[-4:]}"


def _targets(attempt: DeliveryAttempt, devices: dict[str, PushDevice]) -> SafeString:
    items = []
    for target in filter(None, attempt.targets.split(",")):
        device = devices.get(target)
        link = device_link(device) if device else mark_safe("<em>no device row now</em>")
        items.append((attempt.target_type, mask(target), link))
    return format_html_join(", ", "{} <code>{}</code> → {}", items)


def _effect(attempt: DeliveryAttempt, devices: dict[str, PushDevice]) -> str:
    """What the answer did to the devices: an invalid target deactivates them."""
    if attempt.error_category != "invalid_target":
        return ""
    hit = [devices[t] for t in attempt.targets.split(",") if t in devices]
    if not hit:
        return mark_safe("<br><strong>Deactivates the targeted device(s).</strong>")
    return format_html(
        "<br><strong>Deactivated:</strong> {}",
        format_html_join(
            ", ",
            "{} since {}",
            ((device_link(d), display.when(d.deactivated_at)) for d in hit),
        ),
    )


def _answer(attempt: DeliveryAttempt) -> str:
    if attempt.status == "sent":
        return format_html("accepted, message id <code>{}</code>", attempt.message_id or "–")
    if attempt.status == "sending":
        return "no answer recorded (in flight, or the worker died)"
    text = format_html(
        "<strong>{}</strong> ({}) “{}”",
        display.code_text(attempt.error_code) or "no Xiaomi code",
        attempt.error_category,
        attempt.error_reason[:300],
    )
    if attempt.status == "unknown":
        text += mark_safe(" — <em>may have reached Xiaomi</em>")
    return text


def duplicated(delivery: Delivery) -> Delivery | None:
    """The push a delivery suppressed as a duplicate repeats: the latest of the recipient's
    deliveries with the same dedup key (the kind's ``dedup_key``) that was not held back, made
    within the app's dedup window before the decision (twice the window: a push can wait)."""
    try:
        window = timedelta(seconds=conf.get().app(delivery.app_name).policy.dedup_window or 600)
        key = outbox.event_of(delivery).dedup_key()
    except (KeyError, TypeError):  # an app or a kind this version does not know
        return None
    decided = delivery.finished_at or delivery.created_at
    rows = (
        Delivery.objects.filter(
            app_name=delivery.app_name,
            kind=delivery.kind,
            recipient_id=delivery.recipient_id,
            subject_id=delivery.subject_id,
            created_at__gte=decided - 2 * window,
            created_at__lte=decided,
        )
        .exclude(pk=delivery.pk)
        .exclude(status__in=[DeliveryStatus.SUPPRESSED, DeliveryStatus.FAILED])
        .order_by("-created_at")[:100]
    )
    return next((row for row in rows if outbox.event_of(row).dedup_key() == key), None)


def cap_resets(delivery: Delivery) -> datetime | None:
    """When the daily cap that held ``delivery`` back lets the recipient hear again: the next
    midnight in the app's zone after the decision."""
    try:
        zone = conf.get().app(delivery.app_name).policy.zone
    except KeyError:
        return None
    decided = (delivery.finished_at or delivery.created_at).astimezone(zone)
    return datetime.combine(decided.date() + timedelta(days=1), time(), zone)


def held_back(delivery: Delivery) -> SafeString:
    """What a suppressed delivery's end adds to its reason (nothing for other deliveries)."""
    if delivery.status != DeliveryStatus.SUPPRESSED:
        return mark_safe("")
    if delivery.error_category == "duplicate":
        original = duplicated(delivery)
        if original is None:
            return mark_safe("<br>The push it repeats is no longer kept.")
        url = reverse("admin:pushworker_delivery_change", args=[original.pk])
        return format_html(
            '<br>It repeats <a href="{}" class="pw-duplicate-of">event {}</a> ({}, created {}).',
            url,
            str(original.event_id)[:8],
            original.status,
            display.when(original.created_at),
        )
    if delivery.error_category == "daily_cap" and (reset := cap_resets(delivery)):
        return format_html(
            "<br>The daily cap resets at {} (midnight in {}): pushes to user {} go out again.",
            display.when(reset, reset.tzinfo),  # type: ignore[arg-type]
            reset.tzinfo,
            delivery.recipient_id,
        )
    return mark_safe("")


def in_order(
    steps: list[tuple[datetime | None, SafeString]],
) -> list[tuple[datetime | None, SafeString]]:
    """Oldest first, the first step (the event) always first, open steps (no time) last.

    The outbox stamps ``published_at`` a moment before the row's ``created_at``, so times are
    clamped to the first step's; the sort is stable, so equal times keep the order of events.
    """
    start = steps[0][0]
    end = datetime.max.replace(tzinfo=UTC)
    return sorted(
        steps, key=lambda step: end if step[0] is None else max(step[0], start or step[0])
    )


def story(delivery: Delivery) -> SafeString:
    """An ordered list of what happened to ``delivery``, oldest first."""
    devices = devices_by_target(delivery)
    steps: list[tuple[datetime | None, SafeString]] = [
        (
            delivery.created_at,
            format_html(
                "Event accepted: {} in app <code>{}</code>.{}",
                _summary(delivery),
                delivery.app_name,
                format_html(
                    " {} An operator's test push from the admin: the delivery policy (daily "
                    "cap, dedup, quiet hours) does not apply.",
                    display.mark_of_test_push(delivery),
                )
                if delivery.test_push
                else "",
            ),
        )
    ]
    attempts = list(delivery.attempt_set.all())
    if delivery.published_at:
        # Only the last hand-over is kept: after earlier requests it was requeued or republished.
        again = any(a.started_at < delivery.published_at for a in attempts)
        steps.append(
            (
                delivery.published_at,
                mark_safe(
                    "Handed to the broker again (requeued or republished)."
                    if again
                    else "Handed to the broker."
                ),
            )
        )
    for number, attempt in enumerate(attempts, 1):
        steps.append(
            (
                attempt.started_at,
                format_html(
                    "Request {} to Xiaomi ({}/{}, HTTP {}, {}): {}<br>Answer: {}{}{}",
                    number,
                    attempt.platform,
                    attempt.environment,
                    attempt.http_status or "–",
                    display.duration(attempt.started_at, attempt.finished_at),
                    _targets(attempt, devices),
                    _answer(attempt),
                    format_html(" trace <code>{}</code>", attempt.trace_id)
                    if attempt.trace_id
                    else "",
                    _effect(attempt, devices),
                ),
            )
        )
    if delivery.finished_at:
        steps.append(
            (
                delivery.finished_at,
                format_html(
                    "Finished {}: {} (latency {}).{}",
                    display.badge(delivery.status),
                    display.outcome(delivery),
                    display.duration(delivery.created_at, delivery.finished_at),
                    held_back(delivery),
                ),
            )
        )
    else:
        steps.append(
            (
                None,
                format_html("{}: {}", display.badge(delivery.status), display.outcome(delivery)),
            )
        )
    return format_html(
        '<ol class="pw-story" style="margin:0;padding-left:1.5em">{}</ol>',
        format_html_join(
            "",
            '<li style="margin-bottom:.6em"><span style="color:#666;white-space:nowrap">{}'
            "</span><br>{}</li>",
            ((display.when(moment) if moment else "now", text) for moment, text in in_order(steps)),
        ),
    )
