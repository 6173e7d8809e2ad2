"""Delivery.claimed_by: the batch run (its task id) holding a row, so a run that died is found.

The partial index holds only rows in ``sending``: a redelivered batch run finds the rows its dead
predecessor claimed without reading the table. Built like 0008 (concurrently on PostgreSQL).
"""

from importlib import import_module

from django.db import migrations, models

_concurrently = import_module("pushworker.migrations.0008_lifecycle_indexes")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pushworker", "0010_admin_query_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="claimed_by",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="delivery",
            name="crashes",
            field=models.PositiveIntegerField(default=0, help_text="Runs that died while on it."),
        ),
        _concurrently.AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(condition=models.Q(("status", "sending")), fields=["claimed_by"], name="delivery_claimed_by"),
        ),
    ]
