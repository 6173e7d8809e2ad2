"""Registration ids unique per app, one alias device per (app, user, platform, environment).

Before this migration ``pushworker device add`` added a row per call, so duplicates may exist: the
most recently changed row of each key stays, the older copies are deleted first.
"""

from django.db import migrations, models


def drop_duplicates(apps, schema_editor):
    device_model = apps.get_model("pushworker", "PushDevice")
    seen = set()
    stale = []
    rows = device_model.objects.order_by("-modify_time", "-pk").values_list(
        "pk", "app_name", "registration_id", "user_id", "os_type", "ios_environment"
    )
    for pk, app_name, registration_id, user_id, os_type, environment in rows.iterator():
        if registration_id:
            key = ("regid", app_name, registration_id)
        else:
            key = ("alias", app_name, user_id, os_type, environment)
        if key in seen:
            stale.append(pk)
        else:
            seen.add(key)
    for start in range(0, len(stale), 500):
        device_model.objects.filter(pk__in=stale[start : start + 500]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("pushworker", "0003_duplicate_help_text"),
    ]

    operations = [
        migrations.RunPython(drop_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="pushdevice",
            constraint=models.UniqueConstraint(
                condition=models.Q(("registration_id", ""), _negated=True),
                fields=("app_name", "registration_id"),
                name="pushdevice_unique_registration_id_per_app",
            ),
        ),
        migrations.AddConstraint(
            model_name="pushdevice",
            constraint=models.UniqueConstraint(
                condition=models.Q(("registration_id", "")),
                fields=("app_name", "user_id", "os_type", "ios_environment"),
                name="pushdevice_one_alias_device_per_user_platform_env",
            ),
        ),
    ]
