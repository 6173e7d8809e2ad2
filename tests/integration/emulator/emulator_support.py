"""Shared apps, auth headers and valid message fields for the emulator tests."""

from __future__ import annotations

from typing import Any

from tests.support.emulator import ANDROID_APP, IOS_APP  # the shared emulator's apps

__all__ = ["ANDROID_APP", "IOS_APP", "ANDROID_AUTH", "IOS_AUTH"]

ANDROID_AUTH = {"Authorization": f"key={ANDROID_APP.secret}"}
IOS_AUTH = {"Authorization": f"key={IOS_APP.secret}"}


def android_message(**overrides: Any) -> dict[str, Any]:
    """A valid Android notification's form fields; None values are dropped."""
    fields = {
        "restricted_package_name": ANDROID_APP.package,
        "title": "Someone visited your shop",
        "description": "3 new visitors today",
        "pass_through": "0",
        "extra.notify_effect": "1",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def ios_message(**overrides: Any) -> dict[str, Any]:
    fields = {"description": "3 new visitors today", "extra.badge": "1"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}
