"""Delivery.test_push: an operator's test push from the admin, which the delivery policy lets by.

A column with a database default, so the enqueue path's INSERT, which names its columns, and an
older version's inserts during a rolling deploy need no change.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pushworker", "0012_engine"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="test_push",
            field=models.BooleanField(
                db_default=False,
                default=False,
                help_text="An operator's test push from the admin: the delivery policy does not apply.",
            ),
        ),
    ]
