"""Specifies delivery.routing: which platform, host, credentials and target reach each phone."""

from __future__ import annotations

from dataclasses import dataclass

from pushworker.conf import AppSettings, PlatformCredentials, Secret
from pushworker.delivery import routing
from pushworker.store import attempts

ANDROID = PlatformCredentials(Secret("a-secret"), "com.example.shop")
IOS = PlatformCredentials(Secret("i-secret"), "com.example.shop.ios")
APP = AppSettings(name="shop", alias_prefix="QQC_", android=ANDROID, ios=IOS)


@dataclass
class Device:
    pk: int
    os_type: str
    user_id: str = "42"
    registration_id: str = ""
    alias: str = ""
    ios_environment: str = "production"


def test_android_always_goes_to_production_whatever_its_ios_environment_says() -> None:
    assert routing.environment_of(Device(1, "android", ios_environment="sandbox")) == "production"


def test_ios_goes_to_the_environment_of_the_device() -> None:
    assert routing.environment_of(Device(1, "ios", ios_environment="sandbox")) == "sandbox"
    assert routing.environment_of(Device(2, "ios", ios_environment="production")) == "production"


def test_the_registration_id_is_preferred_over_the_alias() -> None:
    device = Device(1, "android", registration_id="regid-1", alias="QQC_42")
    assert routing.target_of(device, APP) == ("regid", "regid-1")


def test_a_device_without_regid_uses_its_own_alias() -> None:
    assert routing.target_of(Device(1, "android", alias="custom"), APP) == ("alias", "custom")


def test_the_alias_defaults_to_the_apps_prefix_and_the_user_id() -> None:
    assert routing.target_of(Device(1, "ios", user_id="42"), APP) == ("alias", "QQC_42")


def test_devices_sharing_a_target_collapse_into_one_unit() -> None:
    units = routing.plan([Device(1, "android"), Device(2, "android"), Device(3, "android")], APP)
    assert len(units) == 1
    assert units[0].targets == ("QQC_42",)
    assert units[0].device_ids == (1, 2, 3)


def test_devices_are_grouped_by_platform_environment_and_target_type() -> None:
    devices = [
        Device(1, "android", registration_id="r2"),
        Device(2, "android", registration_id="r1"),
        Device(3, "android"),
        Device(4, "ios", ios_environment="sandbox"),
        Device(5, "ios"),
        Device(6, "ios", registration_id="r3", ios_environment="sandbox"),
    ]
    units = routing.plan(devices, APP)
    summary = [(u.platform, u.environment, u.target_type, u.targets, u.device_ids) for u in units]
    assert summary == [
        ("android", "production", "alias", ("QQC_42",), (3,)),
        ("android", "production", "regid", ("r1", "r2"), (1, 2)),
        ("ios", "production", "alias", ("QQC_42",), (5,)),
        ("ios", "sandbox", "alias", ("QQC_42",), (4,)),
        ("ios", "sandbox", "regid", ("r3",), (6,)),
    ]
    assert [u.credentials for u in units] == [ANDROID, ANDROID, IOS, IOS, IOS]


def test_the_unit_key_is_stable_whatever_the_order_of_the_devices() -> None:
    devices = [
        Device(1, "android", registration_id="r2"),
        Device(2, "android", registration_id="r1"),
    ]
    [first] = routing.plan(devices, APP)
    [second] = routing.plan(list(reversed(devices)), APP)
    assert first.key == second.key
    assert first.key.startswith("android/production/regid:")


def test_the_unit_key_is_a_digest_of_the_whole_target_list_and_fits_its_column() -> None:
    # Two lists that agree in their first 255 characters once made the same key (issue #8).
    devices = [Device(n, "android", registration_id=f"regid-{n:04}" * 3) for n in range(50)]
    [unit] = routing.plan(devices, APP)
    [longer] = routing.plan([*devices, Device(99, "android", registration_id="zz")], APP)
    assert len(unit.targets) == 50 and len(unit.key) <= 255
    assert unit.key != longer.key


def test_targets_an_earlier_run_had_accepted_are_planned_out() -> None:
    devices = [Device(n, "android", registration_id=f"r{n}") for n in (1, 2)]
    skip = frozenset({attempts.target_key("android", "production", "regid", "r1")})
    [unit] = routing.plan(devices, APP, skip=skip)
    assert unit.targets == ("r2",) and unit.device_ids == (2,)
    assert unit.target_keys == {"android/production/regid:r2"}


def test_credentials_are_none_when_the_app_lacks_that_platform() -> None:
    android_only = AppSettings(name="shop", alias_prefix="QQC_", android=ANDROID, ios=None)
    units = routing.plan([Device(1, "android"), Device(2, "ios")], android_only)
    assert {u.platform: u.credentials for u in units} == {"android": ANDROID, "ios": None}


def test_no_devices_plan_no_units() -> None:
    assert routing.plan([], APP) == []
