"""Delivery.delivered_at and clicked_at, filled by Xiaomi's delivery receipts (nullable: no rewrite)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("pushworker", "0008_lifecycle_indexes")]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="delivered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="delivery",
            name="clicked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
