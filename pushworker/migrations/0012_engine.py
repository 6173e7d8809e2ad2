"""The one engine's rows: a priority per row, and the due rows drains claim (``delivery_due``).

A row waiting for a drain (a backlog's, a retry's, one the broker did not take) has no
``published_at``; ``next_attempt_at`` says when it is due. Drains claim due rows urgent first, so
the partial index holds exactly those rows, by priority and due time; it replaces
``delivery_unpublished``. Existing waiting rows are due from when they were written, and rows of
urgent kinds get their priority. Indexes are built like 0008 (concurrently on PostgreSQL).
"""

from importlib import import_module

from django.db import migrations, models
from django.db.models import F, Q

_concurrently = import_module("pushworker.migrations.0008_lifecycle_indexes")
URGENT_KINDS = ["order_shipped"]  # the kinds urgent when this migration was written


def due_and_priority(apps, schema_editor):
    Delivery = apps.get_model("pushworker", "Delivery")
    Delivery.objects.filter(kind__in=URGENT_KINDS).update(priority=1)
    Delivery.objects.filter(
        status__in=["queued", "retrying"], next_attempt_at__isnull=True
    ).update(next_attempt_at=F("created_at"))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pushworker", "0011_delivery_claimed_by"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="priority",
            field=models.PositiveSmallIntegerField(
                db_default=0, default=0, help_text="1: an urgent kind (claimed first); 0: bulk."
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="kind",
            field=models.CharField(help_text="The event kind (pushworker.events).", max_length=64),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="next_attempt_at",
            field=models.DateTimeField(
                blank=True, help_text="When a drain may claim it (a waiting row's due time).", null=True
            ),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="retries",
            field=models.PositiveIntegerField(
                default=0, help_text="Retries after failures (waits for an outage or a limit are free)."
            ),
        ),
        migrations.RunPython(due_and_priority, migrations.RunPython.noop, elidable=True),
        _concurrently.AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(
                condition=Q(("published_at__isnull", True), ("status__in", ["queued", "retrying"])),
                fields=["priority", "next_attempt_at"],
                name="delivery_due",
            ),
        ),
        _concurrently.RemoveIndexConcurrentlyWherePossible(
            model_name="delivery",
            name="delivery_unpublished",
        ),
    ]
