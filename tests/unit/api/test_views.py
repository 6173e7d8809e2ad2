"""Specifies the device API (web.api) as the shop's backend calls it with the API token."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from pushworker.store.models import PushDevice
from tests.unit.api.conftest import TOKEN

pytestmark = pytest.mark.django_db
DEVICES = "/api/v1/devices"
REGID = "d//jH8nx3+TQ0ODs5f8Gpm0W5mmP8pmYwXAHmaoMbBI="  # Xiaomi's are base64: "/" and "+"


def register(client: APIClient, **body):
    return client.post(DEVICES, {"user_id": "42", "platform": "android", **body}, format="json")


def test_a_new_registration_id_is_created_with_201(backend) -> None:
    response = register(backend, registration_id=REGID)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["registration_id"] == REGID and body["user_id"] == "42"
    assert (body["app"], body["platform"], body["ios_environment"]) == (
        "qqc",
        "android",
        "production",
    )
    assert body["is_active"] is True
    assert PushDevice.objects.get().pk == body["id"]


def test_the_same_registration_id_again_updates_its_row_with_200(backend) -> None:
    first = register(backend, registration_id=REGID, platform="ios").json()
    again = register(backend, registration_id=REGID, platform="ios", ios_environment="sandbox")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["ios_environment"] == "sandbox"
    assert PushDevice.objects.count() == 1


def test_a_registration_id_registered_by_another_user_moves_to_them_and_is_active_again(
    backend,
) -> None:
    register(backend, registration_id=REGID)
    PushDevice.objects.update(
        is_active=False, deactivated_reason="20301 invalid target", deactivated_at=timezone.now()
    )
    moved = register(backend, registration_id=REGID, user_id="77")
    assert moved.status_code == 200
    device = PushDevice.objects.get()
    assert (device.user_id, device.is_active, device.deactivated_reason) == ("77", True, "")
    assert device.deactivated_at is None


def test_without_a_registration_id_a_device_is_an_alias_device_one_per_platform_and_environment(
    backend,
) -> None:
    assert register(backend, alias="QQC_42").status_code == 201
    assert register(backend, alias="QQC_42b").status_code == 200
    assert register(backend, platform="ios").status_code == 201
    assert register(backend, platform="ios", ios_environment="sandbox").status_code == 201
    assert register(backend, user_id="43").status_code == 201
    assert PushDevice.objects.count() == 4
    assert PushDevice.objects.get(os_type="android", user_id="42").alias == "QQC_42b"


def test_the_same_registration_id_in_two_apps_is_two_devices(backend, configure, settings) -> None:
    keys = {"ANDROID": {"APP_SECRET": "s1", "PACKAGE_NAME": "com.a"}}
    settings.PUSHWORKER = {"DEFAULT_APP": "qqc", "APPS": {"qqc": keys, "shop2": keys}}
    configure()  # settings are re-read from PUSHWORKER
    assert register(backend, registration_id=REGID).status_code == 201
    assert register(backend, registration_id=REGID, app="shop2").status_code == 201
    assert register(backend, registration_id=REGID, app="shop2").status_code == 200
    assert sorted(PushDevice.objects.values_list("app_name", flat=True)) == ["qqc", "shop2"]
    assert backend.delete(f"{DEVICES}/{REGID}?app=shop2").status_code == 204
    assert list(PushDevice.objects.values_list("app_name", flat=True)) == ["qqc"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "windows"}, "platform"),
        ({"ios_environment": "sandbox"}, "ios_environment"),
        ({"registration_id": "r" * 256}, "registration_id"),
        ({"user_id": "4" * 65}, "user_id"),
        ({"user_id": "4\n2"}, "user_id"),
        ({"user_id": "4\x002"}, "user_id"),
        ({"alias": "QQC_\x1b42"}, "alias"),
        ({"registration_id": "reg\u0085id"}, "registration_id"),
        ({"app": "nosuchapp"}, "app"),
        ({"registrationId": REGID}, "registrationId"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(backend, body, field) -> None:
    response = register(backend, **body)
    assert response.status_code == 400
    assert list(response.json()) == [field], response.json()
    assert not PushDevice.objects.exists()


def test_a_missing_user_id_and_a_bad_platform_are_both_named(backend) -> None:
    response = backend.post(DEVICES, {"platform": "blackberry"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"user_id", "platform"}
    assert "required" in response.json()["user_id"][0]


def test_a_body_that_is_not_json_is_a_400(backend) -> None:
    response = backend.post(DEVICES, "{user_id: 42", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


def test_no_credentials_are_a_401_saying_what_to_send() -> None:
    response = register(APIClient(), registration_id=REGID)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not PushDevice.objects.exists()


@pytest.mark.parametrize(
    "header", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", "Bearer "]
)
def test_a_wrong_token_is_a_401(header) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert register(client).status_code == 401
    assert client.get(DEVICES, {"user_id": "42"}).status_code == 401


def test_without_a_configured_token_every_call_is_refused_saying_so(backend, settings) -> None:
    settings.PUSHWORKER_API_TOKEN = ""
    for response in (
        register(backend),
        backend.get(DEVICES, {"user_id": "42"}),
        backend.delete(f"{DEVICES}/{REGID}"),
        register(APIClient()),
    ):
        assert response.status_code == 401
        assert "PUSHWORKER_API_TOKEN is not set" in response.json()["detail"]
    assert not PushDevice.objects.exists()


def test_the_list_shows_one_users_devices_newest_first(backend) -> None:
    register(backend, registration_id="r1")
    register(backend, registration_id="r2", platform="ios")
    register(backend, registration_id="r3", user_id="43")
    response = backend.get(DEVICES, {"user_id": "42"})
    assert response.status_code == 200
    assert [d["registration_id"] for d in response.json()] == ["r2", "r1"]
    assert backend.get(DEVICES, {"user_id": "404"}).json() == []


def test_the_token_caller_must_say_whose_devices_to_list(backend) -> None:
    response = backend.get(DEVICES)
    assert response.status_code == 400 and list(response.json()) == ["user_id"]
    assert list(backend.get(DEVICES, {"user_id": "4\x012"}).json()) == ["user_id"]


def test_delete_unregisters_a_registration_id_with_204_then_404(backend) -> None:
    register(backend, registration_id=REGID)
    register(backend, registration_id="other")
    assert backend.delete(f"{DEVICES}/{REGID}").status_code == 204
    assert list(PushDevice.objects.values_list("registration_id", flat=True)) == ["other"]
    again = backend.delete(f"{DEVICES}/{REGID}")
    assert again.status_code == 404 and "detail" in again.json()


def test_delete_accepts_a_percent_encoded_registration_id(backend) -> None:
    register(backend, registration_id=REGID)
    assert backend.delete(f"{DEVICES}/{REGID.replace('/', '%2F')}").status_code == 204


def test_the_database_keeps_registration_ids_unique_per_app() -> None:
    PushDevice.objects.create(user_id="1", app_name="qqc", os_type="android", registration_id="r")
    PushDevice.objects.create(user_id="1", app_name="shop2", os_type="android", registration_id="r")
    with pytest.raises(IntegrityError), transaction.atomic():
        PushDevice.objects.create(user_id="2", app_name="qqc", os_type="ios", registration_id="r")


def test_the_database_keeps_one_alias_device_per_app_user_platform_and_environment() -> None:
    PushDevice.objects.create(user_id="1", app_name="qqc", os_type="android")
    PushDevice.objects.create(user_id="1", app_name="qqc", os_type="ios")
    PushDevice.objects.create(user_id="1", app_name="qqc", os_type="ios", ios_environment="sandbox")
    PushDevice.objects.create(user_id="1", app_name="qqc", os_type="ios", registration_id="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        PushDevice.objects.create(user_id="1", app_name="qqc", os_type="android", alias="B")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"registration_id": "ab,cd"}, "registration_id"),  # the CHECK constraint's 500 before
        ({"alias": "QQC_42,QQC_43"}, "alias"),
        ({"registration_id": "reg\u202eid"}, "registration_id"),  # a bidi override
        ({"alias": "QQC\u200f42"}, "alias"),
        ({"registration_id": "ab\x00cd"}, "registration_id"),
        ({"registration_id": " reg"}, "registration_id"),
        ({"app": ""}, "app"),
        ({"user_id": -1}, "user_id"),
        ({"user_id": 2**70}, "user_id"),
        ({"user_id": 1e30}, "user_id"),
        ({"user_id": 1.5}, "user_id"),
        ({"user_id": 42}, "user_id"),  # the documented form is a string: "42"
        ({"user_id": True}, "user_id"),
        ({"user_id": "-1"}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": "42\n"}, "user_id"),
    ],
)
def test_input_the_database_or_xiaomi_would_refuse_is_a_400_before_any_query(
    backend, body, field, django_assert_num_queries
) -> None:
    with django_assert_num_queries(0):
        response = register(backend, **body)
    assert response.status_code == 400
    assert list(response.json()) == [field], response.json()


def test_the_token_holder_may_choose_any_alias_and_an_alias_device_gets_the_derived_one(
    backend,
) -> None:
    assert register(backend, alias="QQC_77").json()["alias"] == "QQC_77"
    assert register(backend, user_id="43").json()["alias"] == "QQC_43"
    assert register(backend, user_id="44", registration_id=REGID).json()["alias"] == ""


def test_a_body_nested_ten_thousand_deep_is_a_400_in_json(backend) -> None:
    response = backend.post(DEVICES, "[" * 10_000, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_a_body_over_the_limit_is_a_413_in_json(backend) -> None:
    response = backend.post(DEVICES, " " * 20_000, content_type="application/json")
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def test_a_nul_in_the_path_is_a_400_in_json_before_any_query(
    backend, django_assert_num_queries
) -> None:
    with django_assert_num_queries(0):
        response = backend.delete(f"{DEVICES}/ab%00cd")
    assert response.status_code == 400 and list(response.json()) == ["registration_id"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/nothing-here", 404),
        ("get", "/api/", 404),
        ("put", DEVICES, 405),
        ("get", "/api/v1/receipts/not-the-token", 404),
    ],
)
def test_every_error_under_api_is_json(backend, method, path, status) -> None:
    response = getattr(backend, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
