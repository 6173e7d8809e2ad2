"""Deliveries of any event kind: ``kind``, ``recipient_id``, ``subject_id`` and a JSON ``payload``.

Existing rows are goods visits: owner_id → recipient_id, goods_id → subject_id (renamed in place,
no copy), and the visitor and goods fields move into ``payload``. Reversible: going back puts the
payload's fields into their columns again (rows of other kinds keep only what fits).
"""

from django.db import migrations, models

BATCH = 2000


def to_payload(apps, schema_editor):
    Delivery = apps.get_model("pushworker", "Delivery")
    rows = Delivery.objects.only("pk", "subject_id", "visitor_id", "visitor_name", "goods_name")
    changed = []
    for row in rows.order_by("pk").iterator(chunk_size=BATCH):
        row.payload = {
            "visitor_id": row.visitor_id or None,  # "" was how an anonymous visitor was kept
            "goods_id": row.subject_id,
            "goods_name": row.goods_name,
            "visitor_name": row.visitor_name or None,
        }
        changed.append(row)
        if len(changed) >= BATCH:
            Delivery.objects.bulk_update(changed, ["payload"])
            changed = []
    Delivery.objects.bulk_update(changed, ["payload"])


def from_payload(apps, schema_editor):
    Delivery = apps.get_model("pushworker", "Delivery")
    changed = []
    for row in Delivery.objects.order_by("pk").iterator(chunk_size=BATCH):
        payload = row.payload if isinstance(row.payload, dict) else {}
        row.visitor_id = str(payload.get("visitor_id") or "")[:64]
        row.visitor_name = str(payload.get("visitor_name") or "")[:255]
        row.goods_name = str(payload.get("goods_name") or "")[:1024]
        changed.append(row)
        if len(changed) >= BATCH:
            Delivery.objects.bulk_update(changed, ["visitor_id", "visitor_name", "goods_name"])
            changed = []
    Delivery.objects.bulk_update(changed, ["visitor_id", "visitor_name", "goods_name"])


class Migration(migrations.Migration):
    dependencies = [("pushworker", "0006_device_checks_partial_status")]

    operations = [
        migrations.RemoveIndex(model_name="delivery", name="delivery_owner_created"),
        migrations.RenameField(model_name="delivery", old_name="owner_id", new_name="recipient_id"),
        migrations.AlterField(
            model_name="delivery",
            name="recipient_id",
            field=models.CharField(
                db_index=True, help_text="The user whose devices are sent to.", max_length=64
            ),
        ),
        migrations.RenameField(model_name="delivery", old_name="goods_id", new_name="subject_id"),
        migrations.AlterField(
            model_name="delivery",
            name="subject_id",
            field=models.CharField(
                blank=True,
                db_index=True,
                help_text="What it is about (goods id, order id).",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="kind",
            field=models.CharField(
                default="goods_visit", help_text="The event kind (pushworker.events).", max_length=64
            ),
        ),
        migrations.AddField(
            model_name="delivery",
            name="payload",
            field=models.JSONField(
                blank=True, default=dict, help_text="The event's own arguments but the recipient."
            ),
        ),
        # blank: so that going back can re-add the columns to a table that has rows.
        migrations.AlterField(
            model_name="delivery", name="visitor_id", field=models.CharField(blank=True, max_length=64)
        ),
        migrations.AlterField(
            model_name="delivery",
            name="goods_name",
            field=models.CharField(blank=True, max_length=1024),
        ),
        migrations.RunPython(to_payload, from_payload, elidable=False),
        migrations.RemoveField(model_name="delivery", name="visitor_id"),
        migrations.RemoveField(model_name="delivery", name="visitor_name"),
        migrations.RemoveField(model_name="delivery", name="goods_name"),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                fields=["recipient_id", "-created_at"], name="delivery_recipient_created"
            ),
        ),
    ]
