"""Devices and delivery records: the state pushworker keeps. Models hold state; they never send."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q


class Platform(models.TextChoices):
    IOS = "ios", "iOS"
    ANDROID = "android", "Android"


class Environment(models.TextChoices):
    PRODUCTION = "production", "production"
    SANDBOX = "sandbox", "sandbox (iOS only)"


# A device id travels comma-joined to Xiaomi and into log lines: no comma, no control character,
# no bidi control, no surrounding space (routing.sendable and mipush/wire.py refuse the same).
_UNSAFE = r"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_TARGET_CHARACTERS = rf"^(?!\s)[^,{_UNSAFE}]*(?<!\s)\Z"
_ID_CHARACTERS = rf"^[^{_UNSAFE}]+\Z"
target_validator = RegexValidator(
    _TARGET_CHARACTERS,
    "must not contain commas, control characters or surrounding spaces",
    code="bad_target",
)
id_validator = RegexValidator(_ID_CHARACTERS, "must not contain control characters", code="bad_id")


class PushDevice(models.Model):
    """A phone of a user of one app, and how Xiaomi reaches it.

    ``user_id``, ``app_name``, ``os_type`` and ``modify_time`` are the original table's fields.
    The iOS environment belongs to the device (a TestFlight build and an App Store build of the
    same user differ), never to the process.
    """

    user_id = models.CharField(max_length=64, db_index=True, validators=[id_validator])
    app_name = models.CharField(max_length=64, validators=[id_validator])
    os_type = models.CharField(max_length=16, choices=Platform.choices)
    registration_id = models.CharField(
        max_length=255,
        blank=True,
        validators=[target_validator],
        help_text="Xiaomi regid; preferred over the alias when set.",
    )
    alias = models.CharField(
        max_length=128,
        blank=True,
        validators=[target_validator],
        help_text="Blank means the app's alias prefix + user id.",
    )
    ios_environment = models.CharField(
        max_length=16,
        choices=Environment.choices,
        default=Environment.PRODUCTION,
        help_text="Only iOS devices use the sandbox; Android always goes to production.",
    )
    is_active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=255, blank=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modify_time = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user_id", "app_name", "is_active"])]
        # Registration is an upsert on these keys (store/devices.py); the constraints keep
        # two concurrent registrations of one phone from ending in two rows.
        constraints = [
            models.UniqueConstraint(
                fields=["app_name", "registration_id"],
                condition=~Q(registration_id=""),
                name="pushdevice_unique_registration_id_per_app",
            ),
            models.UniqueConstraint(
                fields=["app_name", "user_id", "os_type", "ios_environment"],
                condition=Q(registration_id=""),
                name="pushdevice_one_alias_device_per_user_platform_env",
            ),
            # What the database can hold cheaply on any backend; the validators say the rest.
            models.CheckConstraint(
                condition=Q(os_type__in=Platform.values), name="pushdevice_os_type_known"
            ),
            models.CheckConstraint(
                condition=Q(ios_environment__in=Environment.values),
                name="pushdevice_ios_environment_known",
            ),
            models.CheckConstraint(
                condition=~Q(alias__contains=",") & ~Q(registration_id__contains=","),
                name="pushdevice_targets_without_commas",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.app_name}/{self.user_id} {self.os_type}#{self.pk}"

    def clean(self) -> None:
        """Rules across fields: Xiaomi's sandbox serves iOS only."""
        if self.os_type == Platform.ANDROID and self.ios_environment == Environment.SANDBOX:
            raise ValidationError(
                {"ios_environment": "sandbox is for iOS devices; Android always uses production"}
            )


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    # Some of the recipient's devices got it, others could not be sent to (error_* says why).
    PARTIAL = "partial"
    SUPPRESSED = "suppressed"
    FAILED = "failed"
    DEAD = "dead"


TERMINAL_STATUSES = tuple(
    DeliveryStatus(s) for s in ("sent", "partial", "suppressed", "failed", "dead")
)
ENDED_RARE = ["partial", "suppressed", "failed", "dead"]  # the few; "sent" is most deliveries


class Delivery(models.Model):
    """One event of any kind (``kind``) and what became of it; adding a kind adds no column.

    Written by the enqueuing process (status ``queued``) so that an event the broker loses can be
    published again; ``published_at`` is empty while the broker has not taken it (the outbox).
    """

    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=64, help_text="The event kind (pushworker.events).")
    app_name = models.CharField(max_length=64)
    recipient_id = models.CharField(
        max_length=64, db_index=True, help_text="The user whose devices are sent to."
    )
    subject_id = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="What it is about (goods id, order id)."
    )
    payload = models.JSONField(
        default=dict, blank=True, help_text="The event's own arguments but the recipient."
    )

    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED, db_index=True
    )
    # Empty while no broker message carries the row: a backlog's row, a retry waiting for its
    # time, or an event the broker did not take. Such rows are claimed by drains once due.
    published_at = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(
        default=0, db_default=0, help_text="1: an urgent kind (claimed first); 0: bulk."
    )
    attempts = models.PositiveIntegerField(default=0, help_text="Requests made to Xiaomi.")
    crashes = models.PositiveIntegerField(default=0, help_text="Runs that died while on it.")
    retries = models.PositiveIntegerField(
        default=0, help_text="Retries after failures (waits for an outage or a limit are free)."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The batch run's task id; db_default: an older version's inserts (rolling deploys) have it.
    claimed_by = models.CharField(max_length=64, blank=True, default="", db_default="")
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a drain may claim it (a waiting row's due time)."
    )
    possible_duplicate = models.BooleanField(
        default=False,
        help_text=(
            "A request may have reached Xiaomi (a crash, a timeout or a 500 cut it) and was sent "
            "again. On Android the stable notify_id makes the phone replace the first "
            "notification; "
            "iOS messages have no notify_id, so an iPhone may show both."
        ),
    )
    redelivered = models.BooleanField(default=False)
    # db_default: the enqueue path's one-statement INSERT (store/records_bulk.py) leaves it out.
    test_push = models.BooleanField(
        default=False,
        db_default=False,
        help_text="An operator's test push from the admin: the delivery policy does not apply.",
    )

    message_id = models.CharField(max_length=64, blank=True)
    trace_id = models.CharField(max_length=64, blank=True)
    error_code = models.IntegerField(null=True, blank=True, db_index=True)
    error_category = models.CharField(max_length=32, blank=True)
    error_reason = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # From Xiaomi's receipts (pushworker/web/api/receipts.py): the first of each, null until then.
    delivered_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The admin: recent windows, one recipient's deliveries newest first, open deliveries.
            models.Index(fields=["created_at"], name="delivery_created_at"),
            models.Index(fields=["recipient_id", "-created_at"], name="delivery_recipient_created"),
            models.Index(
                fields=["status", "created_at"],
                name="delivery_open_created",
                condition=models.Q(status__in=["queued", "sending", "retrying"]),
            ),
            # Hot-path indexes of store/purge.py and the relay/sweeper (docs/queries.md): the
            # partial ones hold only the rows those queries look for, so they stay O(pending).
            # The rows drains claim: waiting for a drain (no message carries them) and due, urgent
            # ones first; it holds only such rows, so a claim costs O(waiting).
            models.Index(
                fields=["priority", "next_attempt_at"],
                condition=models.Q(status__in=["queued", "retrying"], published_at__isnull=True),
                name="delivery_due",
            ),
            models.Index(
                fields=["updated_at"],
                condition=models.Q(status__in=["queued", "sending", "retrying"]),
                name="delivery_unfinished",
            ),
            models.Index(
                fields=["finished_at"],
                condition=models.Q(finished_at__isnull=False),
                name="delivery_finished_at",
            ),
            # Admin filters, newest first from an index's end; the search box's exact Xiaomi ids.
            models.Index(
                fields=["status", "created_at", "id"],
                name="delivery_ended_created",
                condition=models.Q(status__in=ENDED_RARE),
            ),
            models.Index(fields=["kind", "created_at", "id"], name="delivery_kind_created"),
            models.Index(
                fields=["claimed_by"], condition=Q(status="sending"), name="delivery_claimed_by"
            ),
            # The daily summaries' count: the rows recipients' preferences held for a summary.
            models.Index(
                fields=["recipient_id", "finished_at"],
                condition=Q(status="suppressed", error_category="summary_pending"),
                name="delivery_summary_pending",
            ),
            *(
                models.Index(fields=[f], condition=~Q((f, "")), name=f"delivery_{f}")
                for f in ("message_id", "trace_id")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind.replace('_', ' ')} {self.event_id} → {self.recipient_id}: {self.status}"


class AttemptStatus(models.TextChoices):
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"  # may have reached Xiaomi: the worker died, or the answer was lost


class DeliveryAttempt(models.Model):
    """One request to Xiaomi for a delivery: where it went and what Xiaomi answered."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    group_key = models.CharField(
        max_length=255, help_text="platform/environment/target type+targets"
    )
    platform = models.CharField(max_length=16, choices=Platform.choices)
    environment = models.CharField(max_length=16, choices=Environment.choices)
    target_type = models.CharField(max_length=16)
    targets = models.TextField()
    status = models.CharField(max_length=16, choices=AttemptStatus.choices)
    http_status = models.IntegerField(null=True, blank=True)
    message_id = models.CharField(max_length=64, blank=True)
    trace_id = models.CharField(max_length=64, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_category = models.CharField(max_length=32, blank=True)
    error_reason = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"{self.platform}/{self.environment} {self.target_type}: {self.status}"


class DeadLetter(models.Model):
    """A broker message the worker could not even read as a task: kept for a human, never retried.

    Garbage bytes, a task name this worker does not know, or an envelope Celery rejects. Events
    that were read but failed live on :class:`Delivery` instead (status ``failed`` or ``dead``).
    """

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reason = models.CharField(max_length=255)
    task_name = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    headers = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="The raw body, cut at 64 KiB.")

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.reason}"


class DailyAggregate(models.Model):
    """What the purge deleted, counted by day of ``finished_at`` (UTC), app, platform, status, code.

    A delivery sent to both platforms counts once per platform; one that made no request (no
    device, suppressed) has platform ``""``. ``code`` is Xiaomi's error code, 0 for none.
    """

    day = models.DateField()
    app_name = models.CharField(max_length=64)
    platform = models.CharField(max_length=16, blank=True)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    code = models.IntegerField(default=0)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "app_name", "platform", "status", "code"],
                name="dailyaggregate_one_row_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.app_name} {self.platform} {self.status} {self.code}: {self.count}"


class PreferenceMode(models.TextChoices):
    INSTANT = "instant"  # every event pushed as the app's policy says (no row needed)
    DAILY_SUMMARY = "daily_summary"  # none pushed; one summary a day at the recipient's hour
    OFF = "off"  # none pushed


class Recipient(models.Model):
    """A user of one app as a recipient: their time zone, quiet hours and daily summary's hour.

    No row means the app's defaults (``TIMEZONE``, ``QUIET_HOURS``, ``SUMMARY_HOUR``). The
    summary columns are the scheduler's: when the next summary is due and of which local date,
    and up to when the last one counted (``store/summaries.py``).
    """

    user_id = models.CharField(max_length=64, validators=[id_validator])
    app_name = models.CharField(max_length=64)
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA name; blank: the app's TIMEZONE."
    )
    quiet_start = models.TimeField(null=True, blank=True, help_text="Personal quiet hours' start.")
    quiet_end = models.TimeField(null=True, blank=True)
    summary_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Local hour of the daily summary; blank: SUMMARY_HOUR."
    )
    summary_due_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next daily summary is due; blank: none chosen."
    )
    summary_day = models.DateField(null=True, blank=True, help_text="The local date it is of.")
    summarized_until = models.DateTimeField(
        null=True, blank=True, help_text="The last summary counted the rows held before this."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["app_name", "user_id"], name="recipient_one_row_per_user_and_app"
            ),
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | (
                    Q(quiet_start__isnull=False, quiet_end__isnull=False)
                    & ~Q(quiet_start=F("quiet_end"))
                ),
                name="recipient_quiet_hours_whole",
            ),
            models.CheckConstraint(
                condition=Q(summary_hour__isnull=True) | Q(summary_hour__lte=23),
                name="recipient_summary_hour_of_a_day",
            ),
        ]
        # The scheduler's question, "whose summary is due?", reads only recipients who chose one.
        indexes = [
            models.Index(
                fields=["summary_due_at"],
                condition=Q(summary_due_at__isnull=False),
                name="recipient_summary_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.app_name}/{self.user_id}"


class Preference(models.Model):
    """What one recipient chose for one kind: a row only where it differs from ``instant``."""

    recipient = models.ForeignKey(Recipient, on_delete=models.CASCADE, related_name="preferences")
    kind = models.CharField(max_length=64)
    mode = models.CharField(max_length=16, choices=PreferenceMode.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind"], name="preference_one_row_per_recipient_and_kind"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=PreferenceMode.values), name="preference_mode_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} {self.kind}: {self.mode}"
