"""The operator's overview: deliveries per status and app, errors by code and category,
suppressions by reason, backlog, a chart.

Every figure is one aggregate over an indexed window of ``created_at`` (migration 0005), so the
page stays fast as the tables grow. The chart is an inline SVG drawn here: no script, no CDN.
Hours and times are the admin's zone's (``display.zone``).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from pushworker.delivery import policy
from pushworker.mipush.meanings import meaning
from pushworker.store.models import DeadLetter, Delivery, DeliveryStatus
from pushworker.web.admin import display

WINDOWS = (("last hour", "1h", timedelta(hours=1)), ("last 24 hours", "24h", timedelta(days=1)))
HOURS = 24


def _window(label: str, key: str, since) -> dict:
    rows = Delivery.objects.filter(created_at__gte=since)
    by_status = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
    by_app = rows.values("app_name", "status").annotate(n=Count("pk")).order_by("app_name")
    apps: dict[str, dict[str, int]] = {}
    for row in by_app:
        apps.setdefault(row["app_name"], {})[row["status"]] = row["n"]
    changelist = reverse("admin:pushworker_delivery_changelist")
    return {
        "label": label,
        "total": sum(by_status.values()),
        "statuses": [
            (display.badge(s), by_status.get(s, 0), f"{changelist}?created={key}&status={s}")
            for s in DeliveryStatus.values
        ],
        "apps": [
            (app, sum(counts.values()), [counts.get(s, 0) for s in DeliveryStatus.values])
            for app, counts in sorted(apps.items())
        ],
    }


def suppressed(since_day, since_hour) -> list[tuple[str, int, int, str]]:
    """(reason, last hour, last 24 hours, link) of every delivery suppressed on purpose: the
    recipients' preferences and the app's policy, each reason in its fixed place."""
    rows = Delivery.objects.filter(created_at__gte=since_day, status=DeliveryStatus.SUPPRESSED)
    day = dict(rows.values_list("error_category").annotate(n=Count("pk")).order_by())
    hour = dict(
        rows.filter(created_at__gte=since_hour)
        .values_list("error_category")
        .annotate(n=Count("pk"))
        .order_by()
    )
    changelist = reverse("admin:pushworker_delivery_changelist")
    reasons = [*policy.REASONS, *sorted(set(day) - set(policy.REASONS))]  # a kind's own reasons
    return [
        (
            reason or "(none)",
            hour.get(reason, 0),
            day.get(reason, 0),
            f"{changelist}?status=suppressed&error_category__exact={reason}&created=24h",
        )
        for reason in reasons
    ]


def top_errors(since, limit: int = 10) -> list[dict]:
    """Deliveries with an error by Xiaomi code and category, most first; a failure Xiaomi gave
    no code for (a refused connection, a timeout) is a row of its category. Suppressions are
    not errors: the status table counts them."""
    rows = (
        Delivery.objects.filter(created_at__gte=since)
        .exclude(error_category="")
        .exclude(status=DeliveryStatus.SUPPRESSED)
        .values_list("error_code", "error_category")
        .annotate(n=Count("pk"))
        .order_by("-n", "error_code", "error_category")[:limit]
    )
    changelist = reverse("admin:pushworker_delivery_changelist")
    found = []
    for code, category, n in rows:
        where = {"error_category__exact": category, "created": "24h"}
        where |= {"error_code__exact": code} if code is not None else {"error_code__isnull": "True"}
        found.append(
            {
                "code": code,
                "category": category,
                "meaning": meaning(code) if code is not None else display.category_text(category),
                "count": n,
                "url": f"{changelist}?{urlencode(where)}",
            }
        )
    return found


def hourly(now, hours: int = HOURS) -> list[tuple[object, int, int]]:
    """(hour, delivered, not delivered or still open) for each of the last ``hours`` hours."""
    start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    counts: dict[object, list[int]] = {start + timedelta(hours=i): [0, 0] for i in range(hours)}
    rows = (
        Delivery.objects.filter(created_at__gte=start)
        .annotate(hour=TruncHour("created_at", tzinfo=display.zone()))
        .values_list("hour", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for hour, status, n in rows:
        slot = counts.get(hour)
        if slot is not None:
            slot[0 if status == DeliveryStatus.SENT else 1] += n
    return [(hour, sent, other) for hour, (sent, other) in counts.items()]


def chart(series: list[tuple[object, int, int]]) -> SafeString:
    """Stacked bars: delivered (green) under everything else (red), one bar per hour."""
    zone = display.zone()
    width, height, bar = 720, 160, 720 // max(len(series), 1)
    top = max((sent + other for _, sent, other in series), default=0) or 1
    bars = []
    for i, (hour, sent, other) in enumerate(series):
        x = i * bar
        h_sent = round((height - 20) * sent / top)
        h_other = round((height - 20) * other / top)
        label = f"{hour.astimezone(zone):%H:00}: {sent} delivered, {other} not (yet)"
        bars.append(
            (
                x + 2,
                height - 20 - h_sent,
                bar - 4,
                h_sent,
                label,
                x + 2,
                height - 20 - h_sent - h_other,
                bar - 4,
                h_other,
            )
        )
    rects = format_html_join(
        "",
        '<g><title>{4}</title><rect x="{0}" y="{1}" width="{2}" height="{3}" fill="#1e7b34"/>'
        '<rect x="{5}" y="{6}" width="{7}" height="{8}" fill="#b02a37"/></g>',
        bars,
    )
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" fill="#555">{}</text>',
        (
            (i * bar + 2, height - 5, f"{hour.astimezone(zone):%H:00}")
            for i, (hour, _, _) in enumerate(series)
            if i % 4 == 0
        ),
    )
    return format_html(
        '<svg class="pw-chart" role="img" aria-label="deliveries per hour" width="{}" height="{}" '
        'viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">{}{}'
        '<text x="{}" y="12" font-size="11" fill="#555" text-anchor="end">max {} / h</text></svg>',
        width,
        height,
        width,
        height,
        rects,
        ticks,
        width - 4,
        top,
    )


def context() -> dict:
    now = timezone.now()
    changelist = reverse("admin:pushworker_delivery_changelist")
    return {
        "windows": [_window(label, key, now - delta) for label, key, delta in WINDOWS],
        "statuses": DeliveryStatus.values,
        "errors": top_errors(now - timedelta(days=1)),
        "suppressed": suppressed(now - timedelta(days=1), now - timedelta(hours=1)),
        "zone": display.zone().key,
        "backlog": Delivery.objects.filter(
            status=DeliveryStatus.QUEUED, published_at__isnull=True
        ).count(),
        "in_progress": Delivery.objects.filter(
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING]
        ).count(),
        "dead_day": Delivery.objects.filter(
            status=DeliveryStatus.DEAD, created_at__gte=now - timedelta(days=1)
        ).count(),
        "dead_letters": DeadLetter.objects.count(),
        "dead_letters_day": DeadLetter.objects.filter(
            received_at__gte=now - timedelta(days=1)
        ).count(),
        "chart": chart(hourly(now)),
        "now": display.when(now),
        "changelist": changelist,
        "deadletters_url": reverse("admin:pushworker_deadletter_changelist"),
    }


def view(request, site):
    """/admin/pushworker/delivery/overview/; the standalone admin index shows the same figures."""
    return TemplateResponse(
        request,
        "pushworker/admin/overview.html",
        {**site.each_context(request), "title": "Delivery overview"},
    )
