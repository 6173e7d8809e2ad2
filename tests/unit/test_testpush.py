"""Specifies web.admin.testpush: "send a test push" enqueues real events and links them."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from pushworker.producer import enqueue
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from pushworker.web.admin import testpush
from tests.unit.environment import CREDENTIALS

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/pushworker/pushdevice/"


@pytest.fixture(autouse=True)
def _broker_down(configure, settings, monkeypatch):
    configure(**CREDENTIALS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No broker in unit tests: every event goes to the outbox, exactly as when Redis is down.
    monkeypatch.setattr(enqueue, "publish", lambda task, event, budget=None: False)


def device(user_id: str, **fields) -> PushDevice:
    return PushDevice.objects.create(
        **({"user_id": user_id, "app_name": "qqc", "os_type": "android"} | fields)
    )


def send(admin_client, *devices: PushDevice):
    return admin_client.post(
        CHANGELIST,
        {"action": "send_test_push", "_selected_action": [d.pk for d in devices]},
        follow=True,
    )


def test_one_event_per_owner_goes_through_the_pipeline_and_the_message_links_its_deliveries(
    admin_client,
) -> None:
    phones = device("42", registration_id="r1"), device("42", os_type="ios"), device("43")
    response = send(admin_client, *phones)
    assert response.status_code == 200
    rows = Delivery.objects.order_by("recipient_id")
    assert [(d.recipient_id, d.status) for d in rows] == [
        ("42", DeliveryStatus.QUEUED),
        ("43", DeliveryStatus.QUEUED),
    ]
    assert {(d.payload["visitor_id"], d.subject_id) for d in rows} == {
        (testpush.TEST_VISITOR_ID, testpush.TEST_GOODS_ID)
    }
    assert rows[0].payload["visitor_name"] == "admin"  # who sent it, as the notification's visitor
    assert all(d.test_push for d in rows)  # the worker lets the delivery policy by for these
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    deliveries = reverse("admin:pushworker_delivery_changelist")
    ids = ",".join(str(d.event_id) for d in Delivery.objects.order_by("recipient_id"))
    assert "2 test push(es) enqueued" in message
    assert f'href="{deliveries}?event_id__in={ids}"' in message
    listed = admin_client.get(f"{deliveries}?event_id__in={ids}")
    assert {row.pk for row in listed.context["cl"].result_list} == {d.pk for d in rows}


def test_inactive_selected_devices_are_named_in_a_warning(admin_client) -> None:
    phone = device("42", is_active=False, deactivated_reason="20301")
    response = send(admin_client, phone)
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 selected device(s) are inactive" in text for text in texts)
    assert Delivery.objects.count() == 1


def test_a_device_of_an_app_no_longer_configured_is_reported_not_enqueued(admin_client) -> None:
    response = send(admin_client, device("42", app_name="gone"))
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Not enqueued: gone/42:") and "app_name" in message
    assert not Delivery.objects.exists()


def test_only_users_who_may_change_devices_see_the_action(client, django_user_model) -> None:
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_pushdevice"))
    client.force_login(viewer)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"send_test_push" not in page.content
