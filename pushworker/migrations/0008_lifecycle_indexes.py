"""Indexes of the hot paths and the purge (docs/queries.md), and the purge's daily aggregate.

Non-atomic, so PostgreSQL builds each index with ``CREATE INDEX CONCURRENTLY``: writers keep
writing to a large ``Delivery`` table while it is built. If a build is interrupted, PostgreSQL
leaves an INVALID index behind: drop it (``DROP INDEX CONCURRENTLY name``) and migrate again.
Other databases (SQLite) build them the plain way. The ``(status, published_at)`` index, which the
partial ones replace, is dropped the same way.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex, RemoveIndex


class AddIndexConcurrentlyWherePossible(AddIndexConcurrently):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL, ``CREATE INDEX`` elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyWherePossible(RemoveIndexConcurrently):
    """``DROP INDEX CONCURRENTLY`` on PostgreSQL, ``DROP INDEX`` elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pushworker", "0007_delivery_event_kinds"),
    ]

    operations = [
        migrations.CreateModel(
            name="DailyAggregate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                ("app_name", models.CharField(max_length=64)),
                ("platform", models.CharField(blank=True, max_length=16)),
                ("status", models.CharField(choices=[("queued", "Queued"), ("sending", "Sending"), ("retrying", "Retrying"), ("sent", "Sent"), ("partial", "Partial"), ("suppressed", "Suppressed"), ("failed", "Failed"), ("dead", "Dead")], max_length=16)),
                ("code", models.IntegerField(default=0)),
                ("count", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("day", "app_name", "platform", "status", "code"), name="dailyaggregate_one_row_per_key")],
            },
        ),
        AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(condition=models.Q(("published_at__isnull", True), ("status", "queued")), fields=["created_at"], name="delivery_unpublished"),
        ),
        AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(condition=models.Q(("status__in", ["queued", "sending", "retrying"])), fields=["updated_at"], name="delivery_unfinished"),
        ),
        AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(condition=models.Q(("finished_at__isnull", False)), fields=["finished_at"], name="delivery_finished_at"),
        ),
        # The relay and the sweeper now read the partial indexes above; this one held an entry for
        # every delivery ever made (about 40 bytes per event at 5 M rows) for them alone.
        RemoveIndexConcurrentlyWherePossible(
            model_name="delivery",
            name="pushworker__status_d98465_idx",
        ),
    ]
