"""Recipients in the admin: what each chose, what applies, and the daily summaries they were sent.

Read-only: the recipient decides (through the API or ``pushworker preferences set``), and saving
there also reschedules their summary. A recipient without a row has the app's defaults.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from pushworker import conf
from pushworker.conf.policy import choosable_kinds
from pushworker.events.daily_summary import DailySummary
from pushworker.store import preferences, summaries
from pushworker.store.models import Recipient
from pushworker.web.admin import display
from pushworker.web.admin.deliveries import ReadOnlyAdmin


def modes_of(recipient: Recipient) -> str:
    found = sorted(f"{p.kind}: {p.mode}" for p in recipient.preferences.all())
    return ", ".join(found) or "every kind instant"


def _choices(recipient: Recipient) -> preferences.Choices:
    modes = {p.kind: p.mode for p in recipient.preferences.all()}
    quiet = (recipient.quiet_start, recipient.quiet_end) if recipient.quiet_start else None
    return preferences.Choices(recipient.time_zone or None, quiet, recipient.summary_hour, modes)


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "app_name", "modes", "zone", "quiet", "hour", "next_summary")
    list_filter = ("app_name",)
    search_fields = ("=user_id",)
    search_help_text = "Exact match on user id."
    ordering = ("app_name", "user_id")
    fields = (
        "user_id",
        "app_name",
        "kinds",
        "zone",
        "quiet",
        "hour",
        "next_summary",
        "summaries_sent",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("preferences")

    def _app(self, recipient: Recipient) -> conf.AppSettings | None:
        return conf.get().apps.get(recipient.app_name)

    @admin.display(description="chosen")
    def modes(self, recipient: Recipient) -> str:
        return modes_of(recipient)

    @admin.display(description="preferences by kind")
    def kinds(self, recipient: Recipient) -> str:
        app, chosen = self._app(recipient), _choices(recipient)
        unmutable = app.policy.unmutable if app else frozenset()
        rows = []
        for kind in choosable_kinds():
            mode = chosen.mode(kind)
            note = ""
            if kind in unmutable:
                note = "unmutable in this app: always instant"
                if mode != preferences.INSTANT:
                    note += f" (the {mode} chosen earlier is not applied)"
            elif kind not in chosen.modes:
                note = "the app's default"
            rows.append((kind, mode, note))
        return format_html(
            '<table class="pw-preferences"><tr><th>kind</th><th>mode</th><th></th></tr>{}</table>',
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="time zone")
    def zone(self, recipient: Recipient) -> str:
        app = self._app(recipient)
        if recipient.time_zone:
            return recipient.time_zone
        return f"{app.policy.timezone} (the app's)" if app else "–"

    @admin.display(description="quiet hours")
    def quiet(self, recipient: Recipient) -> str:
        if recipient.quiet_start is not None and recipient.quiet_end is not None:
            return f"{recipient.quiet_start:%H:%M}-{recipient.quiet_end:%H:%M}"
        app = self._app(recipient)
        window = app.policy.quiet_hours if app else None
        return f"{window[0]:%H:%M}-{window[1]:%H:%M} (the app's)" if window else "none"

    @admin.display(description="summary hour")
    def hour(self, recipient: Recipient) -> str:
        if recipient.summary_hour is not None:
            return f"{recipient.summary_hour}:00"
        app = self._app(recipient)
        return f"{app.policy.summary_hour}:00 (the app's)" if app else "–"

    @admin.display(description="next summary", ordering="summary_due_at")
    def next_summary(self, recipient: Recipient) -> str:
        if recipient.summary_due_at is None:
            return "none (no kind summarized)"
        return f"{display.when(recipient.summary_due_at)}, of {recipient.summary_day}"

    @admin.display(description="daily summaries sent")
    def summaries_sent(self, recipient: Recipient) -> str:
        found = summaries.summaries_of(recipient.app_name, recipient.user_id)
        lines = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:pushworker_delivery_change", args=[d.pk]),
                    d.subject_id,
                    display.when(d.created_at),
                    display.badge(d.status),
                    DailySummary.from_row(
                        str(d.event_id), d.app_name, d.recipient_id, d.payload
                    ).description(),
                )
                for d in found
            ),
        )
        changelist = reverse("admin:pushworker_delivery_changelist")
        query = urlencode(
            {
                "owner_id": recipient.user_id,
                "kind": "daily_summary",
                "app_name__exact": recipient.app_name,
            }
        )
        return format_html(
            '<table class="pw-summaries"><tr><th>day</th><th>made</th><th>status</th>'
            "<th>says</th></tr>{}</table>"
            '<p><a href="{}?{}">All daily summaries of user {}</a></p>',
            lines or mark_safe('<tr><td colspan="4">none yet</td></tr>'),
            changelist,
            query,
            recipient.user_id,
        )


def link(user_id: str, app_name: str) -> str:
    """The recipient's page, or what applies when they chose nothing (the device page's line)."""
    found = Recipient.objects.filter(user_id=user_id, app_name=app_name).first()
    if found is None:
        return "the app's defaults (no preference chosen)"
    return format_html(
        '<a href="{}">{}</a>',
        reverse("admin:pushworker_recipient_change", args=[found.pk]),
        modes_of(found),
    )
