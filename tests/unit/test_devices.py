"""Device data is validated where it enters; a bad unit at send time fails alone (issue #7, 4)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from pushworker import conf
from pushworker.delivery import sender, service
from pushworker.events import GoodsVisit
from pushworker.mipush import Client
from pushworker.store import devices
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from tests.unit.environment import CREDENTIALS

pytestmark = pytest.mark.django_db


def device(**fields) -> PushDevice:
    return PushDevice(**({"user_id": "42", "app_name": "qqc", "os_type": "android"} | fields))


def problems(made: PushDevice) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        made.full_clean()
    return caught.value.message_dict


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"alias": "a,b"}, "alias"),
        ({"alias": "bob\x07"}, "alias"),
        ({"alias": " bob"}, "alias"),
        ({"registration_id": "r\u202e1"}, "registration_id"),
        ({"registration_id": "r1,r2"}, "registration_id"),
        ({"user_id": "4\x002"}, "user_id"),
        ({"os_type": "windows"}, "os_type"),
        ({"ios_environment": "sandbox"}, "ios_environment"),  # Android has no sandbox
    ],
)
def test_the_model_refuses_device_data_naming_the_field(fields, field) -> None:
    assert field in problems(device(**fields))


def test_good_device_data_passes() -> None:
    device(alias="QQC_42").full_clean()
    device(os_type="ios", ios_environment="sandbox", registration_id="r-1").full_clean()


def test_the_database_refuses_a_comma_and_an_unknown_platform_too() -> None:
    for fields in ({"alias": "a,b"}, {"registration_id": "x,y"}, {"os_type": "windows"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            device(**fields).save()


def test_the_cli_refuses_a_bad_device_naming_the_field(configure, capsys) -> None:
    from pushworker import cli

    configure(**CREDENTIALS)
    code = cli.main(["device", "add", "--user", "42", "--os", "android", "--alias", "a,b"])
    assert code == 2
    assert "alias: " in capsys.readouterr().err
    assert not PushDevice.objects.exists()


def test_the_admin_form_refuses_a_bad_device_naming_the_field(rf, admin_user) -> None:
    from django.contrib import admin

    model_admin = admin.site._registry[PushDevice]
    request = rf.get("/")
    request.user = admin_user
    form_class = model_admin.get_form(request)
    form = form_class(
        data={
            "user_id": "42",
            "app_name": "qqc",
            "os_type": "android",
            "alias": "bob\x1b",
            "ios_environment": "production",
            "is_active": "on",
        }
    )
    assert not form.is_valid() and "alias" in form.errors


def visit() -> GoodsVisit:
    return GoodsVisit.from_call("42", "7", "1001", "碗", "小明")


def test_a_bad_stored_target_fails_its_unit_alone_and_the_others_are_sent(emulator) -> None:
    # Rows written before validation existed (or by hand) may still hold a control character.
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android", alias="bad\x07")
    # One alias device per user and platform (a constraint): the good Android phone has a regid.
    PushDevice.objects.create(
        user_id="42", app_name="qqc", os_type="android", registration_id="good"
    )
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="ios", alias="ios-good")
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.PARTIAL
    sent_to = sorted(t for m in emulator.messages() for t in m["targets"])
    assert sent_to == ["good", "ios-good"]
    row = Delivery.objects.get(event_id=event.event_id)
    assert row.error_category == "bad_request"


def test_a_malformed_secret_fails_its_platform_alone(emulator, monkeypatch) -> None:
    real = sender.client_for

    def client(credentials, settings):
        if credentials.package == conf.get().app(None).android.package:
            return Client("bad secret with spaces")  # the client refuses it: ValueError
        return real(credentials, settings)

    monkeypatch.setattr(sender, "client_for", client)
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="ios")
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.PARTIAL
    [message] = emulator.messages()
    assert message["platform"] == "ios"
    row = Delivery.objects.get(event_id=event.event_id)
    assert row.error_category == "configuration"
    assert row.error_reason.startswith("android client refused")
    assert "bad secret" not in row.error_reason


def test_deactivate_devices_only_touches_active_devices_it_names() -> None:
    make = PushDevice.objects.create
    one = make(user_id="42", app_name="qqc", os_type="android")
    two = make(
        user_id="42", app_name="qqc", os_type="ios", is_active=False, deactivated_reason="earlier"
    )
    # A second Android phone of the user has its own regid: one alias device per platform (0004).
    other = make(user_id="42", app_name="qqc", os_type="android", registration_id="regid-other")
    assert devices.deactivate((one.pk, two.pk), "Xiaomi 20301: " + "x" * 300) == 1
    for device in (one, two, other):
        device.refresh_from_db()
    assert not one.is_active and len(one.deactivated_reason) == 255
    assert two.deactivated_reason == "earlier"
    assert other.is_active
