"""Specifies who may run the admin's actions: requeue (it re-sends) needs the change permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from pushworker.events import GoodsVisit
from pushworker.store import deliveries
from pushworker.store.models import Delivery, DeliveryStatus
from tests.unit.environment import CREDENTIALS

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:pushworker_delivery_changelist"


@pytest.fixture(autouse=True)
def _credentials(configure, settings):
    configure(**CREDENTIALS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _failed_delivery() -> Delivery:
    event = GoodsVisit.from_call(owner_id="42", visitor_id="7", goods_id="1", goods_name="bowl")
    row = deliveries.ensure(event, "qqc")
    Delivery.objects.filter(pk=row.pk).update(status=DeliveryStatus.FAILED)
    return row


def _staff(*codenames: str) -> Client:
    user = User.objects.create_user("operator-" + "-".join(codenames), password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_a_view_only_operator_neither_sees_nor_can_run_requeue() -> None:
    row = _failed_delivery()
    client = _staff("view_delivery")
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert b'value="requeue"' not in page.content
    response = client.post(
        reverse(CHANGELIST), {"action": "requeue", "_selected_action": [row.pk]}, follow=True
    )
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.status == DeliveryStatus.FAILED  # not requeued


def test_an_operator_with_the_change_permission_can_requeue() -> None:
    row = _failed_delivery()
    client = _staff("view_delivery", "change_delivery")
    assert b'value="requeue"' in client.get(reverse(CHANGELIST)).content
    client.post(reverse(CHANGELIST), {"action": "requeue", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status != DeliveryStatus.FAILED
