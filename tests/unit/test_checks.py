"""Specifies pushworker's Django system checks and management commands on settings.PUSHWORKER."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

SECRET = "host-secret-never-printed"
GOOD = {
    "APPS": {"shop": {"ANDROID": {"APP_SECRET": SECRET, "PACKAGE_NAME": "com.example.shop"}}},
    "RETRY_MAX": 4,
}


def pushworker_messages() -> list[checks.CheckMessage]:
    return checks.run_checks(tags=["pushworker"])


def test_a_good_dict_passes_the_checks(settings, configure) -> None:
    configure()
    settings.PUSHWORKER = GOOD
    assert pushworker_messages() == []


def test_each_bad_key_is_its_own_check_error(settings, configure) -> None:
    configure()
    settings.PUSHWORKER = {**GOOD, "RETRY_MAXX": 3, "RETRY_CAP": "30", "VISIBILITY_TIMEOUT": 20}
    errors = [m for m in pushworker_messages() if m.level == checks.ERROR]
    assert {m.id for m in errors} == {"pushworker.E001"}
    assert sorted(m.msg.split(" must ")[0].split(" is not")[0] for m in errors) == [
        "PUSHWORKER['RETRY_CAP']",  # a string
        "PUSHWORKER['RETRY_CAP'] (30 s) plus one task run with margin (28 s = "
        "PUSHWORKER['QUICK_ATTEMPTS'] × (PUSHWORKER['CONNECT_TIMEOUT'] + "
        "PUSHWORKER['READ_TIMEOUT']) + PUSHWORKER['QUICK_BUDGET'] + 2 s)",
        "PUSHWORKER['RETRY_MAXX']",
    ]
    assert all(m.obj == m.msg.split(" ")[0] for m in errors)


def test_manage_py_check_fails_naming_the_key(settings, configure) -> None:
    configure()
    settings.PUSHWORKER = {**GOOD, "DEFALT_APP": "shop"}
    with pytest.raises(SystemCheckError, match=r"PUSHWORKER\['DEFALT_APP'\] is not a known key"):
        call_command("check")


def test_a_missing_secret_is_a_warning_not_an_error(settings, configure) -> None:
    configure()
    settings.PUSHWORKER = {"APPS": {"shop": {"IOS": {"APP_SECRET": None, "BUNDLE_ID": "com.x"}}}}
    [message] = pushworker_messages()
    assert message.level == checks.WARNING and message.id == "pushworker.W001"
    assert "PUSHWORKER['APPS']['shop']['IOS']['APP_SECRET'] is missing" in message.msg


def test_variables_ignored_because_the_dict_is_set_are_a_warning(settings, configure) -> None:
    configure(MIPUSH_ANDROID_APP_SECRET="forgotten", PUSHWORKER_RETRY_MAX="2")
    settings.PUSHWORKER = GOOD
    [message] = pushworker_messages()
    assert message.id == "pushworker.W002"
    assert "MIPUSH_ANDROID_APP_SECRET, PUSHWORKER_RETRY_MAX" in message.msg
    assert "forgotten" not in message.msg


def test_pushworker_check_prints_the_host_dict_masked(settings, configure) -> None:
    configure()
    settings.PUSHWORKER = GOOD
    out = StringIO()
    call_command("pushworker_check", stdout=out)
    described = json.loads(out.getvalue())
    assert described["retry"]["max_retries"] == 4
    assert SECRET not in out.getvalue()


def test_pushworker_check_fails_on_a_bad_dict(settings, configure) -> None:
    configure()
    settings.PUSHWORKER = {**GOOD, "RETRY_MAX": "4"}
    with pytest.raises(CommandError, match=r"PUSHWORKER\['RETRY_MAX'\] must be an integer"):
        call_command("pushworker_check", skip_checks=True)


def test_the_emulator_command_serves_the_host_apps(settings, configure) -> None:
    from pushworker import conf
    from pushworker.management.commands.pushworker_emulator import emulator_apps

    configure()
    settings.PUSHWORKER = {
        "APPS": {
            **GOOD["APPS"],
            "seller": {"IOS": {"APP_SECRET": "ios-" + SECRET, "BUNDLE_ID": "com.example.s"}},
        }
    }
    apps = emulator_apps(conf.get())
    assert {(a.platform, a.package, a.secret) for a in apps} == {
        ("android", "com.example.shop", SECRET),
        ("ios", "com.example.s", "ios-" + SECRET),
    }


def test_a_django_setting_named_like_a_variable_is_a_warning_naming_the_dict_key(
    settings, configure
) -> None:
    configure()
    settings.PUSHWORKER = GOOD
    settings.MIPUSH_PRODUCTION_URL = "http://127.0.0.1:8765"
    [message] = pushworker_messages()
    assert message.id == "pushworker.W003"
    assert message.msg == "settings.MIPUSH_PRODUCTION_URL is not read by pushworker"
    assert message.hint == "set PUSHWORKER['PRODUCTION_URL'] in settings.PUSHWORKER instead"
