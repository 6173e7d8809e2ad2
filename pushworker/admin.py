"""Django admin for operators: find devices and deliveries, read Xiaomi's answers, requeue."""

from __future__ import annotations

from django.contrib import admin, messages

from pushworker import records
from pushworker.models import DeadLetter, Delivery, DeliveryAttempt, PushDevice
from pushworker.testpush import send_test_push


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
        "modify_time",
    )
    list_filter = ("app_name", "os_type", "ios_environment", "is_active")
    search_fields = ("=user_id", "alias", "registration_id")
    readonly_fields = ("created_at", "modify_time", "deactivated_at")
    actions = (send_test_push,)

    @admin.display(description="target")
    def target_kind(self, device: PushDevice) -> str:
        return "regid" if device.registration_id else "alias"


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = (
        "started_at",
        "platform",
        "environment",
        "target_type",
        "status",
        "http_status",
        "error_code",
        "error_category",
        "error_reason",
        "message_id",
        "trace_id",
        "finished_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event_id",
        "owner_id",
        "visitor_id",
        "goods_name",
        "app_name",
        "status",
        "attempts",
        "error_code",
        "error_category",
        "possible_duplicate",
        "created_at",
        "finished_at",
    )
    list_filter = (
        "status",
        "error_category",
        "error_code",
        "app_name",
        "possible_duplicate",
        "redelivered",
    )
    search_fields = ("=owner_id", "=visitor_id", "=goods_id", "=event_id", "message_id", "trace_id")
    date_hierarchy = "created_at"
    inlines = (AttemptInline,)
    actions = ("requeue",)

    def get_readonly_fields(self, request, obj=None):
        # Delivery state is written by workers only; an edit here would race them.
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    # Requeueing re-sends pushes, so it needs the change permission: a view-only operator neither
    # sees the action nor can post it.
    @admin.action(description="Requeue selected failed or dead deliveries", permissions=["change"])
    def requeue(self, request, queryset) -> None:
        count = records.requeue(queryset)
        skipped = queryset.count() - count
        self.message_user(
            request,
            f"{count} delivery(ies) requeued; the relay publishes them "
            f"within seconds." + (f" {skipped} skipped (not failed or dead)." if skipped else ""),
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ("received_at", "reason", "task_name", "task_id")
    search_fields = ("reason", "task_name", "=task_id")
    date_hierarchy = "received_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
