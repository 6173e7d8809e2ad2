"""``pushworker stats``: what happened lately, from the database (an operator-facing reader).

Outcomes by app and status, suppressions by reason (the recipients' preferences and the app's
policy), Xiaomi's answers by app, platform and code, the outbox backlog and the dead letters, over
a window such as ``--since 1h``. Xiaomi's answers are counted in attempt
rows, the database's unit: one per event and target group in a request, so a ``multi_messages``
request that carried 200 events is 200 rows. Prometheus' ``pushworker_xiaomi_requests_total``
counts HTTP requests: the two differ by design, and the report says which is which.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from pushworker.store import outbox
from pushworker.store.models import (
    AttemptStatus,
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
)

_WINDOW = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def window(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``7d``: raises ``ValueError`` naming the accepted forms."""
    found = _WINDOW.fullmatch(text.strip())
    if not found or int(found[1]) == 0:
        raise ValueError(f"--since must look like 90s, 15m, 1h or 7d, got {text!r}")
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def collect(since: timedelta) -> dict:
    """The numbers ``report`` prints, as a dict (also what a test reads)."""
    start = timezone.now() - since
    outcomes = (
        Delivery.objects.filter(finished_at__gte=start)
        .values_list("app_name", "status")
        .annotate(n=Count("pk"))
        .order_by("app_name", "status")
    )
    answers = (
        DeliveryAttempt.objects.filter(started_at__gte=start)
        .exclude(status=AttemptStatus.SENDING)
        .values_list("delivery__app_name", "platform", "status", "error_code", "error_category")
        .annotate(n=Count("pk"))
        .order_by("delivery__app_name", "platform", "error_code")
    )
    suppressed = (
        Delivery.objects.filter(finished_at__gte=start, status=DeliveryStatus.SUPPRESSED)
        .values_list("app_name", "error_category")
        .annotate(n=Count("pk"))
        .order_by("app_name", "error_category")
    )
    codes: dict[tuple[str, str, str], int] = {}
    for app, platform, status, code, category, n in answers:
        key = (app, platform, "0" if status == AttemptStatus.SENT else str(code or category))
        codes[key] = codes.get(key, 0) + n
    return {
        "since": start,
        "outcomes": [(app, status, n) for app, status, n in outcomes],
        "suppressed": [(app, reason or "(none)", n) for app, reason, n in suppressed],
        "xiaomi": [(*key, n) for key, n in sorted(codes.items())],
        "outbox_pending": outbox.pending_count(),
        "dead_letters": DeadLetter.objects.filter(received_at__gte=start).count(),
        "dead_letters_total": DeadLetter.objects.count(),
    }


def report(since: timedelta) -> str:
    numbers = collect(since)
    lines = [f"since {numbers['since']:%Y-%m-%d %H:%M:%S} UTC", ""]
    lines += ["deliveries that ended, one per event (app status count)"]
    lines += [f"  {app}\t{status}\t{n}" for app, status, n in numbers["outcomes"]] or ["  none"]
    lines += ["", "suppressed by reason (app reason count)"]
    lines += [f"  {app}\t{reason}\t{n}" for app, reason, n in numbers["suppressed"]] or ["  none"]
    lines += [
        "",
        "xiaomi answers in attempt rows, one per event and target group in a request "
        "(app platform code rows; 0 = accepted)",
        "  a batched request is one row per event it carried; Prometheus'",
        "  pushworker_xiaomi_requests_total counts HTTP requests instead",
    ]
    lines += [f"  {a}\t{p}\t{code}\t{n}" for a, p, code, n in numbers["xiaomi"]] or ["  none"]
    lines += [
        "",
        f"outbox backlog (queued, not yet published): {numbers['outbox_pending']}",
        f"dead letters: {numbers['dead_letters']} in the window, "
        f"{numbers['dead_letters_total']} kept in all",
    ]
    return "\n".join(lines)
