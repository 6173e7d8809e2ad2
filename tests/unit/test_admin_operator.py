"""Specifies the operator's admin: owner and status filters, readable outcomes, read-only records,
a delivery's story, a device's deliveries, reactivation, the overview and its chart."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from pushworker.mipush.codes import CODE_CATEGORIES
from pushworker.mipush.meanings import CODE_MEANINGS, meaning
from pushworker.store import attempts, devices
from pushworker.store.deliveries import Failure
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from pushworker.web.admin import display
from pushworker.web.admin.filters import selected_statuses
from tests.support import rows
from tests.unit.test_admin import changelist, delivery, device, listed

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _credentials(configure, settings):
    from tests.unit.environment import CREDENTIALS

    configure(**CREDENTIALS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def refused(row: Delivery, target: str = "QQC_42", code: int = 20301) -> None:
    attempt = rows.attempt(
        row,
        key=f"android/production/alias:{target}",
        platform="android",
        environment="production",
        target_type="alias",
        targets=target,
    )
    attempts.failed(
        rows.request(attempt), Failure("invalid_target", "No valid targets!", code, "Xlm9")
    )


def test_every_code_in_the_table_has_a_meaning() -> None:
    assert set(CODE_MEANINGS) == set(CODE_CATEGORIES)
    assert meaning(10002) == "system busy" and "not in" in meaning(4242)


def test_the_owner_filter_matches_the_exact_owner_only(admin_client) -> None:
    mine = delivery("1042")
    delivery("10420")
    delivery("7", subject_id="1042")  # another field holding the id
    page = admin_client.get(changelist("delivery"), {"owner_id": "1042"})
    assert listed(page) == {mine.pk}
    assert b'id="pw-filter-owner_id"' in page.content and b'value="1042"' in page.content


def test_status_groups_expand_and_single_statuses_combine() -> None:
    assert selected_statuses("not_delivered") == ["suppressed", "failed", "dead"]
    assert selected_statuses("sent,retrying,nonsense") == ["retrying", "sent"]
    assert selected_statuses("") == []


def test_the_status_filter_takes_a_group_and_several_statuses(admin_client) -> None:
    failed = delivery(status=DeliveryStatus.FAILED)
    dead = delivery(status=DeliveryStatus.DEAD)
    sent = delivery(status=DeliveryStatus.SENT)
    queued = delivery()
    url = changelist("delivery")
    assert listed(admin_client.get(url, {"status": "not_delivered"})) == {failed.pk, dead.pk}
    assert listed(admin_client.get(url, {"status": "in_progress"})) == {queued.pk}
    assert listed(admin_client.get(url, {"status": "sent,dead"})) == {sent.pk, dead.pk}


def test_the_last_hour_filter_leaves_older_deliveries_out(admin_client) -> None:
    recent = delivery()
    old = delivery()
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert listed(admin_client.get(changelist("delivery"), {"created": "1h"})) == {recent.pk}


def test_search_is_exact_and_finds_a_short_event_id(admin_client) -> None:
    mine = delivery("42")
    delivery("420")
    url = changelist("delivery")
    assert listed(admin_client.get(url, {"q": "42"})) == {mine.pk}
    assert listed(admin_client.get(url, {"q": str(mine.event_id)[:8]})) == {mine.pk}
    assert listed(admin_client.get(url, {"q": str(mine.event_id)})) == {mine.pk}
    page = admin_client.get(url)
    assert b"Exact match on recipient id" in page.content


def test_outcomes_read_as_sentences() -> None:
    busy = Delivery(
        status="failed", error_code=10002, error_category="transient", retries=3, attempts=4
    )
    assert display.outcome(busy) == "10002 system busy (transient, retried 3×)"
    poisoned = Delivery(status="dead", error_category="poison", crashes=3)
    assert display.outcome(poisoned).startswith("crash budget spent")
    exhausted = Delivery(status="dead", error_code=10002, error_category="transient", retries=4)
    assert "retry budget spent after 4 retries" in display.outcome(exhausted)


def test_the_list_shows_short_ids_seconds_time_zone_and_latency(admin_client) -> None:
    row = delivery(status=DeliveryStatus.SENT)
    Delivery.objects.filter(pk=row.pk).update(finished_at=row.created_at + timedelta(seconds=2))
    text = admin_client.get(changelist("delivery")).content.decode()
    assert f">{str(row.event_id)[:8]}</a>" in text
    # In the default app's zone (its daily cap's day), the zone named: CST is Asia/Shanghai's.
    assert row.created_at.astimezone(SHANGHAI).strftime("%H:%M:%S CST") in text
    assert "By created (Asia/Shanghai)" in text
    assert "2.0 s" in text and "pw-status pw-sent" in text


def test_records_cannot_be_deleted_from_the_admin(admin_client) -> None:
    row = delivery(status=DeliveryStatus.DEAD)
    page = admin_client.get(changelist("delivery"))
    assert b"delete_selected" not in page.content
    delete = reverse("admin:pushworker_delivery_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Delivery.objects.filter(pk=row.pk).exists()


def test_the_requeue_count_is_right_on_a_filtered_list(admin_client) -> None:
    rows = [delivery(status=DeliveryStatus.DEAD) for _ in range(2)]
    response = admin_client.post(
        changelist("delivery") + "?status=dead",
        {"action": "requeue", "_selected_action": [r.pk for r in rows]},
        follow=True,
    )
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("2 delivery(ies) requeued") and "skipped" not in message


def test_requeue_needs_the_right_to_change_deliveries(client) -> None:
    row = delivery(status=DeliveryStatus.DEAD)
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_delivery"))
    client.force_login(viewer)
    page = client.get(reverse("admin:pushworker_delivery_change", args=[row.pk]))
    assert page.status_code == 200 and b"pw-requeue" not in page.content
    client.post(reverse("admin:pushworker_delivery_requeue", args=[row.pk]))
    assert Delivery.objects.get(pk=row.pk).status == "dead"


def test_the_requeue_button_requeues_one_dead_delivery(admin_client) -> None:
    row = delivery(status=DeliveryStatus.DEAD)
    page = admin_client.get(reverse("admin:pushworker_delivery_change", args=[row.pk]))
    assert b'id="pw-requeue"' in page.content and b'name="_save"' not in page.content
    admin_client.post(reverse("admin:pushworker_delivery_requeue", args=[row.pk]))
    assert Delivery.objects.get(pk=row.pk).status == "queued"


def test_a_delivery_story_links_the_device_its_answer_deactivated(admin_client) -> None:
    phone = device("42")
    row = delivery("42", status=DeliveryStatus.FAILED, error_code=20301)
    refused(row)
    devices.deactivate((phone.pk,), "Xiaomi 20301: No valid targets!")
    story = admin_client.get(reverse("admin:pushworker_delivery_change", args=[row.pk]))
    device_url = reverse("admin:pushworker_pushdevice_change", args=[phone.pk])
    text = story.content.decode()
    assert "20301 no valid targets" in text and "Deactivated:" in text and device_url in text
    page = admin_client.get(device_url).content.decode()
    assert reverse("admin:pushworker_delivery_change", args=[row.pk]) in page
    assert str(row.event_id)[:8] in page and 'id="pw-reactivate"' in page


def test_reactivation_clears_the_old_reason(admin_client) -> None:
    phone = device("42", is_active=False, deactivated_reason="Xiaomi 20301: gone")
    PushDevice.objects.filter(pk=phone.pk).update(deactivated_at=timezone.now())
    admin_client.post(reverse("admin:pushworker_pushdevice_reactivate", args=[phone.pk]))
    phone.refresh_from_db()
    assert phone.is_active and phone.deactivated_reason == "" and phone.deactivated_at is None
    other = device("43", is_active=False, deactivated_reason="Xiaomi 20301: gone")
    list(get_messages(admin_client.get(changelist("pushdevice")).wsgi_request))  # read them
    response = admin_client.post(
        changelist("pushdevice"),
        {"action": "reactivate", "_selected_action": [other.pk, phone.pk]},
        follow=True,
    )
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("1 device(s) reactivated") and "1 were active" in message


def test_the_overview_counts_statuses_errors_backlog_and_draws_a_chart(admin_client) -> None:
    delivery(status=DeliveryStatus.SENT)
    delivery(status=DeliveryStatus.FAILED, error_code=20301, error_category="invalid_target")
    # Refused connections carry no Xiaomi code: their category is their row in the table.
    for _ in range(2):
        delivery(status=DeliveryStatus.DEAD, error_category="transient", error_reason="refused")
    delivery(status=DeliveryStatus.SUPPRESSED, error_category="daily_cap")  # not an error
    delivery(published_at=None)  # queued, never taken by the broker: the outbox backlog
    for url in (reverse("admin:pushworker_overview"), reverse("admin:index")):
        text = admin_client.get(url).content.decode()
        assert "<svg" in text and "20301" in text and "no valid targets" in text
        errors_table = text.split("Errors by Xiaomi code and category")[1]
        assert "refused or reset connection" in text and "daily_cap" not in errors_table
        assert "error_category__exact=transient&amp;created=24h&amp;error_code__isnull=True" in text
        assert 'id="pw-backlog">1<' in text
    errors = admin_client.get(reverse("admin:pushworker_overview")).context["errors"]
    assert [(e["code"], e["category"], e["count"]) for e in errors] == [
        (None, "transient", 2),
        (20301, "invalid_target", 1),
    ]
    refused_rows = admin_client.get(errors[0]["url"])
    assert len(listed(refused_rows)) == 2
    assert "View site" not in admin_client.get(reverse("admin:index")).content.decode()


def test_a_requeued_delivery_story_stays_in_time_order(admin_client) -> None:
    row = delivery("42", status=DeliveryStatus.DEAD)
    refused(row, code=10002)
    later = timezone.now() + timedelta(seconds=5)
    Delivery.objects.filter(pk=row.pk).update(published_at=later, finished_at=later)
    text = admin_client.get(
        reverse("admin:pushworker_delivery_change", args=[row.pk])
    ).content.decode()
    assert text.index("Request 1 to Xiaomi") < text.index("Handed to the broker again")
    assert text.index("Handed to the broker again") < text.index("Finished")


def test_the_story_starts_with_the_event_even_when_the_outbox_stamped_it_earlier(
    admin_client,
) -> None:
    row = delivery("42")
    Delivery.objects.filter(pk=row.pk).update(
        published_at=row.created_at - timedelta(microseconds=300)
    )
    text = admin_client.get(
        reverse("admin:pushworker_delivery_change", args=[row.pk])
    ).content.decode()
    assert text.index("Event accepted") < text.index("Handed to the broker.")


def test_the_overview_needs_the_right_to_view_deliveries(client) -> None:
    staff = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:pushworker_overview")).status_code == 403
    assert b"pw-overview" not in client.get(reverse("admin:index")).content
