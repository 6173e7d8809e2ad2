"""Devices in the admin: each page shows its owner's recent deliveries and what deactivated it.

A device's page also sends a test push and reactivates it; both change something real (a phone
rings, sends resume), so both need the right to change devices.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from pushworker import conf
from pushworker.delivery import routing
from pushworker.store.models import Delivery, DeliveryAttempt, PushDevice
from pushworker.web.admin import display, recipients
from pushworker.web.admin.testpush import send_test_push

RECENT = 10


def reactivate_devices(devices) -> int:
    """Send to these devices again; the old deactivation reason no longer applies."""
    return devices.filter(is_active=False).update(
        is_active=True, deactivated_reason="", deactivated_at=None
    )


def deactivating_attempt(device: PushDevice) -> DeliveryAttempt | None:
    """The invalid-target answer that deactivated ``device``: same target, at or before then."""
    if device.is_active or device.deactivated_at is None:
        return None
    try:
        target = routing.target_of(device, conf.get().app(device.app_name))[1]
    except KeyError:
        target = device.registration_id
    candidates = (
        DeliveryAttempt.objects.filter(
            delivery__recipient_id=device.user_id,
            delivery__app_name=device.app_name,
            error_category="invalid_target",
            finished_at__lte=device.deactivated_at,
        )
        .select_related("delivery")
        .order_by("-finished_at")[:20]
    )
    return next((a for a in candidates if target in a.targets.split(",")), None)


@admin.register(PushDevice)
class PushDeviceAdmin(admin.ModelAdmin):
    list_display = (
        "user_id",
        "app_name",
        "os_type",
        "ios_environment",
        "target_kind",
        "is_active",
        "deactivated_reason",
        "modified",
    )
    list_filter = ("app_name", "os_type", "ios_environment", "is_active")
    search_fields = ("=user_id", "=alias", "=registration_id")
    search_help_text = "Exact match on user id, alias or registration id."
    exclude = ("deactivated_at",)
    readonly_fields = (
        "created",
        "modified",
        "deactivated",
        "deactivated_by",
        "preferences",
        "recent_deliveries",
    )
    actions = (send_test_push, "reactivate")

    @admin.display(description="target")
    def target_kind(self, device: PushDevice) -> str:
        return "regid" if device.registration_id else "alias"

    @admin.display(description="created")
    def created(self, device: PushDevice) -> str:
        return display.when(device.created_at)

    @admin.display(description="last changed", ordering="modify_time")
    def modified(self, device: PushDevice) -> str:
        return display.when(device.modify_time)

    @admin.display(description="deactivated at")
    def deactivated(self, device: PushDevice) -> str:
        return display.when(device.deactivated_at)

    @admin.display(description="deactivated by")
    def deactivated_by(self, device: PushDevice) -> str:
        attempt = deactivating_attempt(device)
        if attempt is None:
            return "–" if device.is_active else "no recorded delivery (deactivated by hand?)"
        return format_html(
            '<a href="{}">delivery {}</a>: {} at {}',
            reverse("admin:pushworker_delivery_change", args=[attempt.delivery_id]),
            str(attempt.delivery.event_id)[:8],
            display.code_text(attempt.error_code) or attempt.error_reason,
            display.when(attempt.finished_at),
        )

    @admin.display(description="the user's preferences")
    def preferences(self, device: PushDevice) -> str:
        return recipients.link(device.user_id, device.app_name) if device.pk else "–"

    @admin.display(description="recent deliveries to this user")
    def recent_deliveries(self, device: PushDevice) -> str:
        if device.pk is None:
            return "–"
        rows = Delivery.objects.filter(
            recipient_id=device.user_id, app_name=device.app_name
        ).order_by("-created_at")[:RECENT]
        changelist = reverse("admin:pushworker_delivery_changelist")
        lines = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:pushworker_delivery_change", args=[d.pk]),
                    str(d.event_id)[:8],
                    display.when(d.created_at),
                    display.badge(d.status),
                    display.outcome(d),
                )
                for d in rows
            ),
        )
        return format_html(
            '<table class="pw-recent"><tr><th>event</th><th>created</th><th>status</th>'
            "<th>outcome</th></tr>{}</table>"
            '<p><a href="{}?{}">All deliveries of user {}</a> (to all of their devices)</p>',
            lines or mark_safe('<tr><td colspan="4">none yet</td></tr>'),
            changelist,
            urlencode({"owner_id": device.user_id, "app_name__exact": device.app_name}),
            device.user_id,
        )

    @admin.action(description="Reactivate the selected devices", permissions=["change"])
    def reactivate(self, request, queryset) -> None:
        selected = queryset.count()
        count = reactivate_devices(queryset)
        skipped = f" {selected - count} were active already." if selected > count else ""
        self.message_user(request, f"{count} device(s) reactivated.{skipped}")

    def save_model(self, request, obj, form, change) -> None:
        if obj.is_active:  # reactivated by hand: the old reason no longer applies
            obj.deactivated_reason, obj.deactivated_at = "", None
        super().save_model(request, obj, form, change)

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/test-push/",
                self.admin_site.admin_view(require_POST(self.test_push_one)),
                name="pushworker_pushdevice_test_push",
            ),
            path(
                "<path:object_id>/reactivate/",
                self.admin_site.admin_view(require_POST(self.reactivate_one)),
                name="pushworker_pushdevice_reactivate",
            ),
        ]
        return own + super().get_urls()

    def _one(self, request, object_id):
        device = get_object_or_404(PushDevice, pk=object_id)
        allowed = self.has_change_permission(request, device)
        if not allowed:
            self.message_user(request, "You may not change devices.", messages.ERROR)
        return device, allowed

    def test_push_one(self, request, object_id):
        device, allowed = self._one(request, object_id)
        if allowed:
            send_test_push(self, request, PushDevice.objects.filter(pk=device.pk))
        return HttpResponseRedirect(reverse("admin:pushworker_pushdevice_change", args=[device.pk]))

    def reactivate_one(self, request, object_id):
        device, allowed = self._one(request, object_id)
        if allowed:
            done = reactivate_devices(PushDevice.objects.filter(pk=device.pk))
            self.message_user(request, "Reactivated." if done else "It was active already.")
        return HttpResponseRedirect(reverse("admin:pushworker_pushdevice_change", args=[device.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {}
        if self.has_change_permission(request):
            extra = {
                "test_push_url": reverse("admin:pushworker_pushdevice_test_push", args=[object_id]),
                "reactivate_url": reverse(
                    "admin:pushworker_pushdevice_reactivate", args=[object_id]
                ),
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})
