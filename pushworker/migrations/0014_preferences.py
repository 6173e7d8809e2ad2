"""Recipients' preferences: per kind (instant, daily summary, off), time zone, quiet hours and the
daily summary's hour and schedule. New tables, and one partial index on deliveries (the rows held
for a summary), built concurrently on PostgreSQL as 0008's: no existing row changes, so it is safe
to run while old workers still deliver (they ignore preferences until restarted).
"""

from importlib import import_module

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

_concurrently = import_module("pushworker.migrations.0008_lifecycle_indexes")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('pushworker', '0013_delivery_test_push'),
    ]

    operations = [
        migrations.CreateModel(
            name='Recipient',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('user_id', models.CharField(max_length=64, validators=[django.core.validators.RegexValidator('^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]+\\Z', 'must not contain control characters', code='bad_id')])),
                ('app_name', models.CharField(max_length=64)),
                ('time_zone', models.CharField(blank=True, help_text="IANA name; blank: the app's TIMEZONE.", max_length=64)),
                ('quiet_start', models.TimeField(blank=True, help_text="Personal quiet hours' start.", null=True)),
                ('quiet_end', models.TimeField(blank=True, null=True)),
                ('summary_hour', models.PositiveSmallIntegerField(blank=True, help_text='Local hour of the daily summary; blank: SUMMARY_HOUR.', null=True)),
                ('summary_due_at', models.DateTimeField(blank=True, help_text='When the next daily summary is due; blank: none chosen.', null=True)),
                ('summary_day', models.DateField(blank=True, help_text='The local date it is of.', null=True)),
                ('summarized_until', models.DateTimeField(blank=True, help_text='The last summary counted the rows held before this.', null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('summary_due_at__isnull', False)), fields=['summary_due_at'], name='recipient_summary_due')],
                'constraints': [models.UniqueConstraint(fields=('app_name', 'user_id'), name='recipient_one_row_per_user_and_app'), models.CheckConstraint(condition=models.Q(models.Q(('quiet_end__isnull', True), ('quiet_start__isnull', True)), models.Q(('quiet_end__isnull', False), ('quiet_start__isnull', False), models.Q(('quiet_start', models.F('quiet_end')), _negated=True)), _connector='OR'), name='recipient_quiet_hours_whole'), models.CheckConstraint(condition=models.Q(('summary_hour__isnull', True), ('summary_hour__lte', 23), _connector='OR'), name='recipient_summary_hour_of_a_day')],
            },
        ),
        migrations.CreateModel(
            name='Preference',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=64)),
                ('mode', models.CharField(choices=[('instant', 'Instant'), ('daily_summary', 'Daily Summary'), ('off', 'Off')], max_length=16)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('recipient', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='preferences', to='pushworker.recipient')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('recipient', 'kind'), name='preference_one_row_per_recipient_and_kind'), models.CheckConstraint(condition=models.Q(('mode__in', ['instant', 'daily_summary', 'off'])), name='preference_mode_known')],
            },
        ),
        _concurrently.AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("error_category", "summary_pending"), ("status", "suppressed")),
                fields=["recipient_id", "finished_at"],
                name="delivery_summary_pending",
            ),
        ),
    ]
