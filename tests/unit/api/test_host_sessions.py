"""Specifies the device API mounted in a host project: its session login, own devices only."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from pushworker.store.models import PushDevice
from tests.unit.api.sessions import logged_in

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.unit.api.host_urls")]
DEVICES = "/api/v1/devices"


@pytest.fixture(autouse=True)
def _no_token(settings):
    settings.PUSHWORKER_API_TOKEN = ""  # a host need not configure one: its logins suffice


def register(client: APIClient, user_id, registration_id: str = "r-1"):
    body = {"user_id": str(user_id), "platform": "android", "registration_id": registration_id}
    return client.post(DEVICES, body, format="json")


def test_a_user_registers_lists_and_unregisters_their_own_device() -> None:
    alice = logged_in("alice")
    assert register(alice, alice.user.pk).status_code == 201
    mine = alice.get(DEVICES)  # without user_id: one's own
    assert [d["registration_id"] for d in mine.json()] == ["r-1"]
    assert alice.get(DEVICES, {"user_id": alice.user.pk}).status_code == 200
    assert alice.delete(f"{DEVICES}/r-1").status_code == 204


def test_a_user_touching_another_users_devices_gets_403() -> None:
    alice, bob = logged_in("alice"), logged_in("bob")
    register(bob, bob.user.pk)
    refused = register(alice, bob.user.pk, registration_id="r-2")
    assert refused.status_code == 403
    assert f"devices of user {bob.user.pk}" in refused.json()["detail"]
    assert alice.get(DEVICES, {"user_id": bob.user.pk}).status_code == 403
    assert alice.delete(f"{DEVICES}/r-1").status_code == 403
    assert PushDevice.objects.get().user_id == str(bob.user.pk)


def test_a_phone_that_changed_hands_moves_to_the_user_who_registers_it() -> None:
    alice, bob = logged_in("alice"), logged_in("bob")
    register(bob, bob.user.pk)
    assert register(alice, alice.user.pk).status_code == 200
    assert PushDevice.objects.get().user_id == str(alice.user.pk)


def test_staff_act_for_anyone() -> None:
    ops, bob = logged_in("ops", staff=True), logged_in("bob")
    assert register(ops, bob.user.pk).status_code == 201
    assert ops.get(DEVICES, {"user_id": bob.user.pk}).status_code == 200
    assert ops.delete(f"{DEVICES}/r-1").status_code == 204


def test_an_anonymous_visitor_gets_401() -> None:
    assert register(APIClient(), 1).status_code == 401
    assert APIClient().get(DEVICES).status_code == 401


def test_a_session_call_without_the_csrf_token_is_refused() -> None:
    alice = logged_in("alice", csrf=True)
    response = register(alice, alice.user.pk)
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not PushDevice.objects.exists()


def alias_device(client: APIClient, user_id, **body):
    body = {"user_id": str(user_id), "platform": "android", **body}
    return client.post(DEVICES, body, format="json")


def test_a_session_users_alias_device_gets_the_derived_alias_filled_in() -> None:
    alice = logged_in("alice")
    answer = alias_device(alice, alice.user.pk)
    assert answer.status_code == 201
    assert answer.json()["alias"] == f"QQC_{alice.user.pk}"
    same = alias_device(alice, alice.user.pk, alias=f"QQC_{alice.user.pk}")
    assert same.status_code == 200


def test_a_session_user_cannot_choose_an_alias_not_even_staff() -> None:
    alice, bob = logged_in("alice"), logged_in("bob")
    staff = logged_in("staff", staff=True)
    for client in (alice, staff):
        refused = alias_device(client, alice.user.pk, alias=f"QQC_{bob.user.pk}")
        assert refused.status_code == 400
        assert f"must be QQC_{alice.user.pk}" in refused.json()["alias"][0]
        regid = alias_device(client, alice.user.pk, registration_id="r-9", alias="anything")
        assert regid.status_code == 400 and list(regid.json()) == ["alias"]
    assert not PushDevice.objects.exists()
