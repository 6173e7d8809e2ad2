"""The delivery list's filters: an exact recipient id, the kind, statuses, recency, app, category.

Every filter's choices are known without reading the table (no ``SELECT DISTINCT`` over millions of
deliveries): kinds from the registry, apps from the settings, categories from the code.
Each filter reads one query parameter (``owner_id``, ``kind``, ``status``, ``created``) so a link
such as ``?owner_id=1042&status=not_delivered`` answers "did user 1042 get the push?" directly.
The recipient's parameter keeps its first name, ``owner_id``, so links already shared still work.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from pushworker import conf
from pushworker.delivery import policy
from pushworker.events import registry
from pushworker.mipush.codes import Category
from pushworker.store.models import DeliveryStatus
from pushworker.web.admin.display import GROUPS


class RecipientFilter(admin.SimpleListFilter):
    """A text box: the deliveries to exactly this user id (indexed), never a partial match."""

    title = "recipient id (exact)"
    parameter_name = "owner_id"  # the goods visit's name for it, kept for shared links
    template = "pushworker/admin/input_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(recipient_id=value) if value else queryset

    def choices(self, changelist):
        # The form keeps every other active filter as hidden fields.
        params = changelist.get_filters_params()
        yield {
            "value": self.value() or "",
            "parameter_name": self.parameter_name,
            "other": [
                (key, value)
                for key, values in params.items()
                if key != self.parameter_name
                for value in (values if isinstance(values, list) else [values])
            ],
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }


def selected_statuses(value: str | None) -> list[str]:
    """``"not_delivered,retrying"`` → the statuses it names, groups expanded, in a stable order."""
    chosen: set[str] = set()
    for part in (value or "").split(","):
        part = part.strip()
        if part in GROUPS:
            chosen.update(GROUPS[part][1])
        elif part in DeliveryStatus.values:
            chosen.add(part)
    return [status for status in DeliveryStatus.values if status in chosen]


class KindFilter(admin.SimpleListFilter):
    """The registered event kinds (``pushworker.events``), one at a time."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(name, name.replace("_", " ")) for name in registry.kinds()]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


class StatusFilter(admin.SimpleListFilter):
    """Groups pick their statuses; a single status toggles in and out of the selection."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        groups = [(key, f"{label}: {', '.join(s)}") for key, (label, s) in GROUPS.items()]
        return groups + [(status, status) for status in DeliveryStatus.values]

    def queryset(self, request, queryset):
        statuses = selected_statuses(self.value())
        return queryset.filter(status__in=statuses) if statuses else queryset

    def choices(self, changelist):
        current = selected_statuses(self.value())
        yield {
            "selected": not current,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "All",
        }
        for key, title in self.lookup_choices:
            if key in GROUPS:
                members = list(GROUPS[key][1])
                selected = sorted(current) == sorted(members)
                target = members
            else:
                selected = key in current
                target = [s for s in current if s != key] if selected else current + [key]
            query = (
                changelist.get_query_string({self.parameter_name: ",".join(target)})
                if target
                else changelist.get_query_string(remove=[self.parameter_name])
            )
            yield {
                "selected": selected,
                "query_string": query,
                "display": title if key in GROUPS else ("☑ " if selected else "☐ ") + title,
            }


class CreatedFilter(admin.SimpleListFilter):
    """Recent windows over the indexed ``created_at`` (instead of a date drill-down's DISTINCT)."""

    title = "created"
    parameter_name = "created"
    WINDOWS = {"1h": ("Last hour", 1), "24h": ("Last 24 hours", 24), "7d": ("Last 7 days", 168)}

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.WINDOWS.items()]

    def queryset(self, request, queryset):
        window = self.WINDOWS.get(self.value() or "")
        if window is None:
            return queryset
        return queryset.filter(created_at__gte=timezone.now() - timedelta(hours=window[1]))


class AppFilter(admin.SimpleListFilter):
    """The configured apps (``PUSHWORKER["apps"]``), the same parameter as the field filter had."""

    title = "app name"
    parameter_name = "app_name__exact"  # the field filter's parameter: links keep working

    def lookups(self, request, model_admin):
        return [(name, name) for name in sorted(conf.get().apps)]

    def queryset(self, request, queryset):
        return queryset.filter(app_name=self.value()) if self.value() else queryset


# Every ``error_category`` a delivery is written with: the Xiaomi failure categories
# (pushworker/mipush/codes.py), the ones service.py and sending.py decide themselves, and the
# delivery policy's reasons (the recipient's preferences among them).
OWN_CATEGORIES = ("no_device", "suppressed", "rate_limited", "poison")
ERROR_CATEGORIES = tuple(str(c) for c in Category) + OWN_CATEGORIES + policy.REASONS


class ErrorCategoryFilter(admin.SimpleListFilter):
    """Why a delivery failed, from the fixed set of categories the code writes."""

    title = "error category"
    parameter_name = "error_category__exact"  # the field filter's parameter: links keep working

    def lookups(self, request, model_admin):
        return [(name, name.replace("_", " ")) for name in ERROR_CATEGORIES]

    def queryset(self, request, queryset):
        return queryset.filter(error_category=self.value()) if self.value() else queryset
