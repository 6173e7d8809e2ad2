"""Deliveries in the admin: read-only records, found by exact ids, each page telling its story.

Workers alone write delivery state, so nothing here edits or deletes it; the one change an operator
makes is a requeue (list action or the button on a delivery's page), gated by a permission.
"""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from pushworker.store import outbox
from pushworker.store.models import Delivery
from pushworker.web.admin import display, overview
from pushworker.web.admin.filters import (
    AppFilter,
    CreatedFilter,
    ErrorCategoryFilter,
    KindFilter,
    RecipientFilter,
    StatusFilter,
)
from pushworker.web.admin.paging import BoundedPaginator, shown_count
from pushworker.web.admin.story import story


class BoundedChangeList(ChangeList):
    """Shows the paginator's bounded count as "10,000+" (templates' ``pagination.html``)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_count_shown = shown_count(self.result_count)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable, never added, edited or deleted from the admin."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "short_event_id",
        "kind_shown",
        "recipient_id",
        "subject_id",
        "app_name",
        "coloured_status",
        "outcome",
        "created",
        "latency",
    )
    list_display_links = ("short_event_id",)
    list_filter = (
        RecipientFilter,
        KindFilter,
        StatusFilter,
        CreatedFilter,
        AppFilter,
        ErrorCategoryFilter,
        "possible_duplicate",
        "test_push",
    )
    search_fields = (
        "=recipient_id",
        "=subject_id",
        "^event_id",
        "=message_id",
        "=trace_id",
    )
    search_help_text = (
        "Exact match on recipient id (a goods visit's owner), subject id (goods id, order id), "
        "Xiaomi message id or trace id, "
        "or the start of an event id (the short id shown in the list)."
    )
    ordering = ("-created_at",)  # newest first, on the created_at index
    list_per_page = 50
    show_full_result_count = False  # a second COUNT(*) over a large table for the "(n total)"
    paginator = BoundedPaginator  # counts at most 10,001 rows: "10,000+ deliveries"
    actions = ("requeue",)
    fieldsets = (
        ("Story", {"fields": ("story",)}),
        (
            "Event",
            {
                "fields": (
                    "event_id",
                    "kind",
                    "app_name",
                    "recipient_id",
                    "subject_id",
                    "payload",
                    "test_push",
                )
            },
        ),
        (
            "Outcome",
            {
                "fields": (
                    "coloured_status",
                    "outcome",
                    "attempts",
                    "retries",
                    "crashes",
                    "possible_duplicate",
                    "redelivered",
                    "message_id",
                    "trace_id",
                    "error_code",
                    "error_category",
                    "error_reason",
                )
            },
        ),
        ("Times", {"fields": ("created", "published", "finished", "latency")}),
    )
    readonly_fields = (
        "story",
        "coloured_status",
        "outcome",
        "created",
        "published",
        "finished",
        "latency",
    )

    def get_search_results(self, request, queryset, search_term):
        # Exact, index-friendly comparisons instead of the default case-insensitive ones.
        term = search_term.strip()
        if not term:
            return queryset, False
        # Every field has an index (migration 0009 for the Xiaomi ids), so the OR stays index scans.
        match = Q(recipient_id=term) | Q(subject_id=term) | Q(message_id=term)
        match |= Q(trace_id=term)
        digits = term.lower().replace("-", "")
        if 4 <= len(digits) <= 32 and all(c in "0123456789abcdef" for c in digits):
            # An event id or its start (the short id in the list) as a range of the unique index;
            # a LIKE on the id's text would read the whole table.
            low, high = uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))
            match |= Q(event_id__gte=low, event_id__lte=high)
        return queryset.filter(match), False

    @admin.display(description="event", ordering="event_id")
    def short_event_id(self, delivery: Delivery) -> str:
        return str(delivery.event_id)[:8]

    @admin.display(description="kind", ordering="kind")
    def kind_shown(self, delivery: Delivery) -> str:
        return format_html("{} {}", delivery.kind, display.mark_of_test_push(delivery))

    @admin.display(description="status", ordering="status")
    def coloured_status(self, delivery: Delivery) -> str:
        return display.badge(delivery.status)

    @admin.display(description="outcome")
    def outcome(self, delivery: Delivery) -> str:
        return display.outcome(delivery)

    @admin.display(description="created", ordering="created_at")
    def created(self, delivery: Delivery) -> str:
        return display.when(delivery.created_at)

    @admin.display(description="published to the broker")
    def published(self, delivery: Delivery) -> str:
        return display.when(delivery.published_at)

    @admin.display(description="finished")
    def finished(self, delivery: Delivery) -> str:
        return display.when(delivery.finished_at)

    @admin.display(description="latency")
    def latency(self, delivery: Delivery) -> str:
        return display.duration(delivery.created_at, delivery.finished_at)

    @admin.display(description="what happened, in order")
    def story(self, delivery: Delivery) -> str:
        return story(delivery)

    def has_requeue_permission(self, request) -> bool:
        # A requeue sends a real push again: it needs the right to change deliveries.
        return request.user.has_perm("pushworker.change_delivery")

    @admin.action(description="Requeue selected failed or dead deliveries", permissions=["requeue"])
    def requeue(self, request, queryset) -> None:
        selected = list(queryset.values_list("pk", flat=True))  # before the update moves them
        count = outbox.requeue(Delivery.objects.filter(pk__in=selected))
        skipped = len(selected) - count
        self.message_user(
            request,
            f"{count} delivery(ies) requeued; the relay publishes them within seconds."
            + (f" {skipped} skipped (not failed or dead)." if skipped else ""),
            messages.SUCCESS if count else messages.WARNING,
        )

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/requeue/",
                self.admin_site.admin_view(require_POST(self.requeue_one)),
                name="pushworker_delivery_requeue",
            ),
            path(
                "overview/",
                self.admin_site.admin_view(self.overview_view),
                name="pushworker_overview",
            ),
        ]
        return urls + super().get_urls()

    def overview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return overview.view(request, self.admin_site)

    def requeue_one(self, request, object_id):
        delivery = get_object_or_404(Delivery, pk=object_id)
        page = reverse("admin:pushworker_delivery_change", args=[delivery.pk])
        if not self.has_requeue_permission(request):
            self.message_user(request, "You may not requeue deliveries.", messages.ERROR)
        elif outbox.requeue(Delivery.objects.filter(pk=delivery.pk)):
            self.message_user(request, "Requeued: the relay publishes it within seconds.")
        else:
            self.message_user(
                request,
                f"Not requeued: it is {delivery.status}, not failed or dead.",
                messages.WARNING,
            )
        return HttpResponseRedirect(page)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        delivery = self.get_object(request, object_id)
        extra = {
            "requeue_url": reverse("admin:pushworker_delivery_requeue", args=[object_id])
            if delivery is not None
            and delivery.status in display.REQUEUEABLE
            and self.has_requeue_permission(request)
            else None,
            "owner_url": reverse("admin:pushworker_delivery_changelist")
            + "?"
            + urlencode({"owner_id": delivery.recipient_id})
            if delivery is not None
            else None,
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_changelist(self, request, **kwargs):
        return BoundedChangeList

    def changelist_view(self, request, extra_context=None):
        extra = {"overview_url": reverse("admin:pushworker_overview")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})
