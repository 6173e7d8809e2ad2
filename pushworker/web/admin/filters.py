"""The delivery list's filters: an exact recipient id, the kind, statuses, recency, app, category.

Every filter's choices are known without reading the table (no ``SELECT DISTINCT`` over millions of
deliveries): kinds from the registry, apps from the settings, categories from the code.
Each filter reads its query parameters (``owner_id``, ``kind``, ``status``, ``created`` or
``created_from``/``created_to``) so a link such as ``?owner_id=1042&created=yesterday`` answers
"did user 1042 get yesterday's pushes?" directly.
The recipient's parameter keeps its first name, ``owner_id``, so links already shared still work.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.utils import timezone

from pushworker import conf
from pushworker.delivery import policy
from pushworker.events import registry
from pushworker.mipush.codes import Category
from pushworker.store.models import DeliveryStatus
from pushworker.web.admin.display import GROUPS, zone


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


class CreatedFilter(admin.ListFilter):
    """Today or yesterday in the admin's zone (the default app's TIMEZONE), a recent window, or a
    range of dates; each one or two bounds on the indexed ``created_at``.

    ``?created=yesterday`` (or today, 1h, 24h, 7d); ``?created_from=2026-12-01&created_to=
    2026-12-03`` (either may be left out: dates are whole days in the zone, both included).
    """

    title = "created"  # and the zone's name, once known (__init__)
    parameter_name = "created"
    FROM, TO = "created_from", "created_to"
    CHOICES = {
        "today": "Today",
        "yesterday": "Yesterday",
        "1h": "Last hour",
        "24h": "Last 24 hours",
        "7d": "Last 7 days",
    }
    WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
    template = "pushworker/admin/created_filter.html"

    def __init__(self, request, params, model, model_admin) -> None:
        super().__init__(request, params, model, model_admin)
        self.zone = zone()
        self.title = f"created ({self.zone.key})"
        self.values: dict[str, str] = {}
        for name in self.expected_parameters():
            if name in params:
                value = params.pop(name)
                self.values[name] = (value[-1] if isinstance(value, list) else value).strip()

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name, self.FROM, self.TO]

    def has_output(self) -> bool:
        return True

    def _day(self, name: str) -> datetime | None:
        """The start of the date in parameter ``name``, in the zone; None when it is not given."""
        text = self.values.get(name)
        if not text:
            return None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise IncorrectLookupParameters(f"{name}: not a date (YYYY-MM-DD): {text!r}") from None
        return datetime.combine(day, time(), tzinfo=self.zone)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """``[start, end)`` of the creation times chosen; (None, None) for all."""
        chosen = self.values.get(self.parameter_name, "")
        now = timezone.now()
        midnight = datetime.combine(now.astimezone(self.zone).date(), time(), tzinfo=self.zone)
        if chosen == "today":
            return midnight, None
        if chosen == "yesterday":
            return _days_before(midnight, 1), midnight
        if chosen in self.WINDOWS:
            return now - self.WINDOWS[chosen], None
        start, last = self._day(self.FROM), self._day(self.TO)
        return start, _days_before(last, -1) if last else None

    def queryset(self, request, queryset):
        start, end = self.bounds()
        if start is not None:
            queryset = queryset.filter(created_at__gte=start)
        if end is not None:
            queryset = queryset.filter(created_at__lt=end)
        return queryset

    def choices(self, changelist):
        every = self.expected_parameters()
        chosen = self.values.get(self.parameter_name)
        ranged = not chosen and (self.values.get(self.FROM) or self.values.get(self.TO))
        yield {
            "selected": not chosen and not ranged,
            "query_string": changelist.get_query_string(remove=every),
            "display": "Any date",
        }
        for key, label in self.CHOICES.items():
            yield {
                "selected": chosen == key,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: key}, remove=[self.FROM, self.TO]
                ),
                "display": label,
            }
        params = changelist.get_filters_params()
        yield {
            "range": True,
            "selected": bool(ranged),
            "from": self.values.get(self.FROM, ""),
            "to": self.values.get(self.TO, ""),
            "other": [
                (key, value)
                for key, values in params.items()
                if key not in every
                for value in (values if isinstance(values, list) else [values])
            ],
        }


def _days_before(moment: datetime, days: int) -> datetime:
    """The same wall-clock time ``days`` days earlier in its zone (a day may be 23 or 25 hours)."""
    return datetime.combine(moment.date() - timedelta(days=days), moment.time(), moment.tzinfo)


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
