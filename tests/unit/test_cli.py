"""Specifies pushworker.cli: check, device and send-goods-visit, as an operator types them."""

from __future__ import annotations

import json
import uuid

import pytest

from pushworker import cli
from pushworker.producer import enqueue
from pushworker.store.models import Delivery, PushDevice
from tests.unit.environment import ANDROID_SECRET, CREDENTIALS, IOS_SECRET


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_prints_the_configuration_with_secrets_masked(configure, capsys) -> None:
    configure(**CREDENTIALS, PUSHWORKER_BROKER_URL="redis://:broker-password@127.0.0.1:6390/0")
    code, out, err = run(capsys, "check")
    assert code == 0, err
    described = json.loads(out[: out.rindex("}") + 1])
    assert described["apps"]["qqc"]["android"] == {
        "package": "com.example.shop",
        "app_secret": f"**** ({len(ANDROID_SECRET)} chars)",
    }
    for secret in (ANDROID_SECRET, IOS_SECRET, "broker-password"):
        assert secret not in out + err
    assert "broker: redis://:**@127.0.0.1:6390/0" in out


def test_check_exits_1_listing_every_missing_credential(configure, capsys) -> None:
    configure(MIPUSH_IOS_BUNDLE_ID="com.example.shop.ios")
    code, out, err = run(capsys, "check")
    assert code == 1
    assert "a worker would refuse to start" in err
    assert "MIPUSH_IOS_APP_SECRET is missing" in err


def test_check_without_any_credentials_names_what_to_set(configure, capsys) -> None:
    configure()
    code, _, err = run(capsys, "check")
    assert code == 1
    assert "MIPUSH_ANDROID_APP_SECRET" in err and "MIPUSH_IOS_APP_SECRET" in err


def test_check_exits_non_zero_naming_each_bad_number(configure, capsys) -> None:
    configure(**CREDENTIALS, PUSHWORKER_RETRY_MAX="eight", MIPUSH_READ_TIMEOUT="-1")
    code, out, err = run(capsys, "check")
    assert code != 0
    assert "PUSHWORKER_RETRY_MAX must be an integer, got 'eight'" in err
    assert "MIPUSH_READ_TIMEOUT must be at least" in err
    assert out == ""


@pytest.mark.django_db
def test_device_add_registers_a_device_with_its_target_and_environment(configure, capsys) -> None:
    configure(**CREDENTIALS)
    code, out, _ = run(
        capsys,
        "device",
        "add",
        "--user",
        "42",
        "--os",
        "ios",
        "--sandbox",
        "--reg-id",
        "regid-ios-0001",
    )
    assert code == 0 and "for user 42 (ios, qqc)" in out
    device = PushDevice.objects.get()
    assert (device.user_id, device.app_name, device.os_type) == ("42", "qqc", "ios")
    assert (device.ios_environment, device.registration_id, device.alias) == (
        "sandbox",
        "regid-ios-0001",
        "",
    )


@pytest.mark.django_db
def test_device_add_defaults_to_production_and_the_default_alias(configure, capsys) -> None:
    configure(**CREDENTIALS)
    assert run(capsys, "device", "add", "--user", "42", "--os", "android")[0] == 0
    device = PushDevice.objects.get()
    assert (device.ios_environment, device.alias, device.registration_id) == ("production", "", "")


@pytest.mark.django_db
def test_device_list_shows_each_device_with_a_masked_regid(configure, capsys) -> None:
    configure(**CREDENTIALS)
    PushDevice.objects.create(
        user_id="42", app_name="qqc", os_type="android", registration_id="regid-android-secretish"
    )
    PushDevice.objects.create(
        user_id="42",
        app_name="qqc",
        os_type="ios",
        ios_environment="sandbox",
        is_active=False,
        deactivated_reason="Xiaomi 20301",
    )
    PushDevice.objects.create(user_id="42", app_name="other", os_type="ios")
    code, out, _ = run(capsys, "device", "list", "--user", "42")
    assert code == 0
    lines = sorted(out.splitlines())
    assert len(lines) == 2
    assert "android\tproduction\tregid regid-…\tactive" in lines[0]
    assert "ios\tsandbox\talias (default)\tinactive (Xiaomi 20301)" in lines[1]
    assert "secretish" not in out


@pytest.mark.django_db
def test_device_list_says_when_a_user_has_no_devices(configure, capsys) -> None:
    configure(**CREDENTIALS)
    code, out, err = run(capsys, "device", "list", "--user", "404", "--app", "qqc")
    assert code == 0 and out == ""
    assert "no devices for user 404 in app qqc" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["device", "add", "--os", "ios"],
        ["device", "add", "--user", "42", "--os", "windows"],
        ["device"],
        ["send-goods-visit", "--owner", "42", "--visitor", "7", "--goods-id", "1"],
        ["no-such-command"],
    ],
)
def test_malformed_command_lines_exit_2_with_usage(argv, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert "usage: pushworker" in capsys.readouterr().err


@pytest.fixture
def published(monkeypatch) -> list:
    """Publishes recorded instead of sent to Redis; the rest of the enqueue path is real."""
    calls: list = []

    def publish(task, event, budget=None) -> bool:
        calls.append((task.name, event))
        return True

    monkeypatch.setattr(enqueue, "publish", publish)
    return calls


@pytest.mark.django_db
def test_send_goods_visit_enqueues_one_event_and_prints_its_id(configure, capsys, published):
    configure(**CREDENTIALS)
    code, out, _ = run(
        capsys,
        "send-goods-visit",
        "--owner",
        "42",
        "--visitor",
        "7",
        "--goods-id",
        "1001",
        "--goods-name",
        "二手自行车",
        "--visitor-name",
        "小明",
    )
    assert code == 0
    event_id = out.strip()
    assert uuid.UUID(event_id)
    [(task_name, event)] = published
    assert task_name == "pushworker.send_goods_visit"
    assert (event.event_id, event.owner_id, event.visitor_id, event.goods_id) == (
        event_id,
        "42",
        "7",
        "1001",
    )
    assert (event.goods_name, event.visitor_name, event.app_name) == ("二手自行车", "小明", None)
    assert Delivery.objects.get(event_id=event_id).published_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--owner", " ", "--visitor", "7", "--goods-id", "1", "--goods-name", "bike"],
            "owner_id must not be empty",
        ),
        (
            ["--owner", "42", "--visitor", "7", "--goods-id", "x" * 65, "--goods-name", "bike"],
            "goods_id must be at most 64 characters",
        ),
        (
            ["--owner", "42", "--visitor", "7", "--goods-id", "1", "--goods-name", ""],
            "goods_name must not be empty",
        ),
        (
            [
                "--owner",
                "42",
                "--visitor",
                "7",
                "--goods-id",
                "1",
                "--goods-name",
                "bike",
                "--app",
                "nope",
            ],
            "app_name unknown app 'nope'",
        ),
    ],
)
def test_send_goods_visit_refuses_invalid_input_with_exit_2_and_a_clear_message(
    argv, message, configure, capsys, published
) -> None:
    configure(**CREDENTIALS)
    code, out, err = run(capsys, "send-goods-visit", *argv)
    assert code == 2 and out == ""
    assert err.startswith("pushworker: send_goods_visit: ") and message in err
    assert "Traceback" not in err
    assert published == [] and Delivery.objects.count() == 0


def test_the_management_command_reads_a_host_projects_pushworker_dict(settings) -> None:
    from io import StringIO

    from django.core.management import call_command

    from pushworker import conf

    settings.PUSHWORKER = {
        "APPS": {
            "shop": {
                "ALIAS_PREFIX": "S_",
                "ANDROID": {"APP_SECRET": "host-secret-value-123", "PACKAGE_NAME": "com.host.shop"},
            }
        },
    }
    out = StringIO()
    try:
        call_command("pushworker_check", stdout=out)
    finally:
        conf.get.cache_clear()
    assert '"shop"' in out.getvalue() and "com.host.shop" in out.getvalue()
    assert "host-secret-value-123" not in out.getvalue()


@pytest.mark.django_db
def test_send_kind_enqueues_a_registered_kind_with_its_own_arguments(configure, capsys, published):
    configure(**CREDENTIALS)
    code, out, _ = run(
        capsys,
        "send",
        "goods_visit",
        "--owner-id",
        "42",
        "--visitor-id",
        "7",
        "--goods-id",
        "1001",
        "--goods-name",
        "二手自行车",
        "--app",
        "qqc",
    )
    assert code == 0
    [(task_name, event)] = published
    assert task_name == "pushworker.send_goods_visit" and event.event_id == out.strip()
    assert (event.owner_id, event.goods_id, event.visitor_name, event.app_name) == (
        "42",
        "1001",
        None,
        "qqc",
    )


@pytest.mark.django_db
def test_send_kind_refuses_a_missing_argument_naming_the_kind_and_the_argument(
    configure, capsys, published
) -> None:
    configure(**CREDENTIALS)
    code, out, err = run(capsys, "send", "goods_visit", "--owner-id", "42", "--goods-id", "1")
    assert code == 2 and out == ""
    assert err.startswith("pushworker: send_goods_visit: goods_name ")
    assert published == [] and Delivery.objects.count() == 0
