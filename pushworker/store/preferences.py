"""Recipients' preferences: the one reader and writer of ``Recipient`` and ``Preference`` rows.

A recipient's choices (:class:`Choices`) are read one recipient at a time for the API and the
command line, and set-wise for a delivery run (:func:`of_recipients`: one query for all the run's
recipients of an app). Saving them also schedules the recipient's next daily summary when a kind
is summarized (the scheduler's own reads and writes are in :mod:`pushworker.store.summaries`).
Only what differs from the app's defaults is stored: no row means the app's defaults.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from pushworker.conf.types import AppSettings
from pushworker.events import daily_summary
from pushworker.store.models import Delivery, Preference, PreferenceMode, Recipient

INSTANT, DAILY_SUMMARY, OFF = (m.value for m in PreferenceMode)
MODES = tuple(PreferenceMode.values)


@dataclass(frozen=True)
class Choices:
    """What one recipient of one app chose; ``None`` (or a kind not in ``modes``) is the app's
    default: its ``TIMEZONE``, its ``QUIET_HOURS``, its ``SUMMARY_HOUR``, instant pushes."""

    time_zone: str | None = None
    quiet_hours: tuple[time, time] | None = None
    summary_hour: int | None = None
    modes: Mapping[str, str] = field(default_factory=dict)  # kind -> mode, never "instant"

    def mode(self, kind: str) -> str:
        return self.modes.get(kind, INSTANT)

    @property
    def summarizes(self) -> bool:
        return DAILY_SUMMARY in self.modes.values()

    @property
    def is_default(self) -> bool:
        return self == Choices()

    def zone(self, app: AppSettings) -> ZoneInfo:
        """The recipient's zone: theirs, else the app's ``TIMEZONE``."""
        return ZoneInfo(self.time_zone) if self.time_zone else app.policy.zone

    def quiet(self, app: AppSettings) -> tuple[time, time] | None:
        """Their quiet hours, in :meth:`zone`: theirs override the app's ``QUIET_HOURS``."""
        return self.quiet_hours if self.quiet_hours is not None else app.policy.quiet_hours

    def hour(self, app: AppSettings) -> int:
        return self.summary_hour if self.summary_hour is not None else app.policy.summary_hour


NONE = Choices()


def _choices(row: Recipient | None, modes: Mapping[str, str]) -> Choices:
    if row is None:
        return Choices(modes=dict(modes))
    quiet = (row.quiet_start, row.quiet_end) if row.quiet_start is not None else None
    return Choices(row.time_zone or None, quiet, row.summary_hour, dict(modes))


def of(user_id: str, app_name: str) -> Choices:
    """One recipient's choices (the API's and the command line's read)."""
    row = Recipient.objects.filter(app_name=app_name, user_id=user_id).first()
    if row is None:
        return NONE
    return _choices(row, dict(row.preferences.values_list("kind", "mode")))


def summary_due(user_id: str, app_name: str) -> datetime | None:
    """When the recipient's next daily summary is due (None: they chose none)."""
    found = Recipient.objects.filter(app_name=app_name, user_id=user_id)
    return found.values_list("summary_due_at", flat=True).first()


def of_recipients(app_name: str, user_ids: Collection[str]) -> dict[str, Choices]:
    """Every listed recipient's choices in one query (recipients with none are left out)."""
    found: dict[str, tuple[tuple, dict[str, str]]] = {}
    rows = Recipient.objects.filter(
        app_name=app_name, user_id__any=list(set(user_ids))
    ).values_list(
        "user_id",
        "time_zone",
        "quiet_start",
        "quiet_end",
        "summary_hour",
        "preferences__kind",
        "preferences__mode",
    )
    for user_id, zone, start, end, hour, kind, mode in rows:  # one row per preference, LEFT JOIN
        own, modes = found.setdefault(user_id, ((zone, start, end, hour), {}))
        if kind is not None:
            modes[kind] = mode
    return {
        user_id: Choices(zone or None, (start, end) if start is not None else None, hour, modes)
        for user_id, ((zone, start, end, hour), modes) in found.items()
    }


def summarized_days(app_name: str, user_id: str, days: Collection[date]) -> list[date]:
    """Which of ``days`` already have this recipient's summary (their event ids are known)."""
    ids = {daily_summary.event_id_of(app_name, user_id, day): day for day in days}
    return [ids[str(e)] for e in Delivery.objects.filter(event_id__in=ids).values_list("event_id")]


def next_summary(
    choices: Choices, app: AppSettings, user_id: str, now: datetime, slot: timedelta, after=None
) -> tuple[date, datetime]:
    """The local date and due time of the recipient's next summary after ``now`` (and after the
    day ``after``), by their hour, zone and quiet hours."""
    return daily_summary.next_due(
        now,
        choices.hour(app),
        choices.zone(app),
        choices.quiet(app),
        slot,
        daily_summary.slot_key(app.name, user_id),
        after=after,
    )


def save(
    user_id: str,
    app: AppSettings,
    choices: Choices,
    *,
    slot: timedelta,
    now: datetime | None = None,
) -> Choices:
    """Replace the recipient's choices (only non-default values become rows) and reschedule their
    daily summary: the next one after now, never a second one of a day already summarized."""
    now = now or timezone.now()
    modes = {kind: mode for kind, mode in choices.modes.items() if mode != INSTANT}
    choices = Choices(choices.time_zone, choices.quiet_hours, choices.summary_hour, modes)
    if choices.is_default:
        Recipient.objects.filter(app_name=app.name, user_id=user_id).delete()  # and preferences
        return NONE
    with transaction.atomic():
        # Locked (or made) first: two saves for one recipient at once take turns, and a new
        # recipient's row is made once (get_or_create gets the winner's after a conflict).
        row, _ = Recipient.objects.select_for_update().get_or_create(
            app_name=app.name, user_id=user_id
        )
        row.time_zone = choices.time_zone or ""
        row.quiet_start, row.quiet_end = choices.quiet_hours or (None, None)
        row.summary_hour = choices.summary_hour
        if choices.summarizes:
            today = now.astimezone(choices.zone(app)).date()
            nearby = [today + timedelta(days=d) for d in (-1, 0, 1)]
            done = summarized_days(app.name, user_id, nearby)
            if row.summary_day is not None:
                done.append(row.summary_day - timedelta(days=1))
            row.summary_day, row.summary_due_at = next_summary(
                choices, app, user_id, now, slot, after=max(done, default=None)
            )
        else:
            row.summary_day = row.summary_due_at = None
        row.save()
        row.preferences.exclude(kind__in=modes).delete()
        for kind, mode in modes.items():
            Preference.objects.update_or_create(recipient=row, kind=kind, defaults={"mode": mode})
    return choices
