"""Specifies pushworker.web.admin: operators find devices and deliveries, read answers, requeue."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from pushworker.events import GoodsVisit
from pushworker.store import attempts, deliveries
from pushworker.store.deliveries import Failure
from pushworker.store.models import (
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)
from tests.support import rows
from tests.unit.environment import ANDROID_SECRET, CREDENTIALS, IOS_SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _credentials(configure, settings):
    configure(**CREDENTIALS)
    # The superuser's password hash would otherwise cost a tenth of a second per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def device(user_id: str = "42", **fields) -> PushDevice:
    return PushDevice.objects.create(
        **({"user_id": user_id, "app_name": "qqc", "os_type": "android"} | fields)
    )


def delivery(owner_id: str = "42", status: str = DeliveryStatus.QUEUED, **fields) -> Delivery:
    event = GoodsVisit.from_call(
        owner_id=owner_id, visitor_id="7", goods_id="1001", goods_name="二手自行车"
    )
    row = deliveries.ensure(event, "qqc")
    Delivery.objects.filter(pk=row.pk).update(status=status, **fields)
    row.refresh_from_db()
    return row


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def changelist(model: str) -> str:
    return reverse(f"admin:pushworker_{model}_changelist")


def test_the_device_list_and_change_pages_render(admin_client) -> None:
    phone = device(registration_id="regid-1")
    device(os_type="ios", ios_environment="sandbox", is_active=False, deactivated_reason="20301")
    response = admin_client.get(changelist("pushdevice"))
    assert response.status_code == 200 and b"regid" in response.content
    page = admin_client.get(reverse("admin:pushworker_pushdevice_change", args=[phone.pk]))
    assert page.status_code == 200
    assert admin_client.get(reverse("admin:pushworker_pushdevice_add")).status_code == 200


def test_the_delivery_list_and_change_pages_render_with_attempts(admin_client) -> None:
    row = delivery(
        status=DeliveryStatus.FAILED,
        error_code=20301,
        error_category="invalid_target",
        error_reason="No valid targets!",
    )
    attempt = rows.attempt(
        row,
        key="android/production/alias:QQC_42",
        platform="android",
        environment="production",
        target_type="alias",
        targets="QQC_42",
    )
    attempts.failed(
        rows.request(attempt), Failure("invalid_target", "No valid targets!", 20301, "Xlm1")
    )
    assert admin_client.get(changelist("delivery")).status_code == 200
    page = admin_client.get(reverse("admin:pushworker_delivery_change", args=[row.pk]))
    assert page.status_code == 200
    assert b"No valid targets!" in page.content and b"Xlm1" in page.content


def test_deliveries_cannot_be_added_or_edited_by_hand(admin_client) -> None:
    row = delivery()
    assert admin_client.get(reverse("admin:pushworker_delivery_add")).status_code == 403
    page = admin_client.get(reverse("admin:pushworker_delivery_change", args=[row.pk]))
    assert b'name="status"' not in page.content
    assert DeliveryAttempt.objects.count() == 0


def test_devices_are_found_by_user_id(admin_client) -> None:
    mine = {device("42").pk, device("42", os_type="ios").pk}
    device("420")
    device("7")
    assert listed(admin_client.get(changelist("pushdevice"), {"q": "42"})) == mine


def test_deliveries_are_found_by_owner_id(admin_client) -> None:
    mine = delivery("42")
    delivery("420")
    assert listed(admin_client.get(changelist("delivery"), {"q": "42"})) == {mine.pk}


def test_deliveries_are_filtered_by_status_and_by_error_code(admin_client) -> None:
    failed = delivery(status=DeliveryStatus.FAILED, error_code=20301)
    dead = delivery(status=DeliveryStatus.DEAD, error_code=10001)
    delivery(status=DeliveryStatus.SENT)
    url = changelist("delivery")
    assert listed(admin_client.get(url, {"status__exact": "failed"})) == {failed.pk}
    assert listed(admin_client.get(url, {"error_code__exact": "10001"})) == {dead.pk}
    assert (
        listed(admin_client.get(url, {"error_code__exact": "10001", "status__exact": "failed"}))
        == set()
    )


def test_the_requeue_action_requeues_only_failed_and_dead_deliveries(admin_client) -> None:
    rows = [
        delivery(status=s)
        for s in (
            DeliveryStatus.FAILED,
            DeliveryStatus.DEAD,
            DeliveryStatus.SENT,
            DeliveryStatus.SENDING,
        )
    ]
    response = admin_client.post(
        changelist("delivery"),
        {"action": "requeue", "_selected_action": [r.pk for r in rows]},
        follow=True,
    )
    assert response.status_code == 200
    statuses = [Delivery.objects.get(pk=r.pk).status for r in rows]
    assert statuses == ["queued", "queued", "sent", "sending"]
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("2 delivery(ies) requeued") and "2 skipped" in message


def test_the_requeue_action_warns_when_nothing_could_be_requeued(admin_client) -> None:
    row = delivery(status=DeliveryStatus.SENT)
    response = admin_client.post(
        changelist("delivery"), {"action": "requeue", "_selected_action": [row.pk]}, follow=True
    )
    [message] = list(get_messages(response.wsgi_request))
    assert message.level_tag == "warning" and str(message).startswith("0 delivery(ies)")


def test_dead_letters_are_listed_found_and_shown_read_only(admin_client) -> None:
    letter = DeadLetter.objects.create(reason="queue entry is not JSON", body="\\x00garbage")
    DeadLetter.objects.create(reason="unknown task: x", task_name="x", task_id="t-1")
    url = changelist("deadletter")
    assert listed(admin_client.get(url, {"q": "JSON"})) == {letter.pk}
    page = admin_client.get(reverse("admin:pushworker_deadletter_change", args=[letter.pk]))
    assert page.status_code == 200 and b"garbage" in page.content
    assert b'name="reason"' not in page.content
    assert admin_client.get(reverse("admin:pushworker_deadletter_add")).status_code == 403


def test_no_admin_page_shows_an_app_secret(admin_client) -> None:
    phone = device()
    row = delivery(
        status=DeliveryStatus.FAILED,
        error_code=21301,
        error_category="configuration",
        error_reason="Invalid application secret.",
    )
    pages = [
        changelist("pushdevice"),
        changelist("delivery"),
        reverse("admin:pushworker_pushdevice_change", args=[phone.pk]),
        reverse("admin:pushworker_delivery_change", args=[row.pk]),
        changelist("deadletter"),
        reverse("admin:index"),
        reverse("admin:app_list", args=["pushworker"]),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert ANDROID_SECRET.encode() not in response.content, url
        assert IOS_SECRET.encode() not in response.content, url
