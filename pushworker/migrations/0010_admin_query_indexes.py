"""Indexes of the admin list's filters and search box (docs/queries.md, "Admin").

A rare status (failed, dead, ...) or kind filtered newest first reads its own index from the end
instead of walking the whole table backwards; the search box's exact Xiaomi message and trace ids
get partial indexes (rows without one are left out), so its OR of exact fields is a bitmap OR of
index scans, not a sequential scan. Built like 0008: ``CREATE INDEX CONCURRENTLY`` on PostgreSQL in
a non-atomic migration (writers keep writing), the plain way elsewhere.
"""

from importlib import import_module

from django.db import migrations, models

# 0008's operation (a module name starting with a digit is reached through import_module).
_concurrently = import_module("pushworker.migrations.0008_lifecycle_indexes")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("pushworker", "0009_delivery_receipts"),
    ]

    operations = [
        _concurrently.AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(condition=models.Q(("status__in", ["partial", "suppressed", "failed", "dead"])), fields=["status", "created_at", "id"], name="delivery_ended_created"),
        ),
        _concurrently.AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(fields=["kind", "created_at", "id"], name="delivery_kind_created"),
        ),
        _concurrently.AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(condition=models.Q(("message_id", ""), _negated=True), fields=["message_id"], name="delivery_message_id"),
        ),
        _concurrently.AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(condition=models.Q(("trace_id", ""), _negated=True), fields=["trace_id"], name="delivery_trace_id"),
        ),
    ]
