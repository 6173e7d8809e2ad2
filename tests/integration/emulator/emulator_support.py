"""Shared apps, auth headers and valid message fields for the emulator tests."""

from __future__ import annotations

import json
from typing import Any

import httpx

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


def multi_item(target: str, **overrides: Any) -> dict[str, Any]:
    """One `messages` item of a multi_messages request: a valid Android notification to `target`."""
    message = {
        "restricted_package_name": ANDROID_APP.package,
        "title": "t",
        "description": "d",
        "pass_through": 0,
        "extra": {"notify_effect": "1"},
    }
    message.update(overrides)
    return {"target": target, "message": {k: v for k, v in message.items() if v is not None}}


def post_multi(
    client: httpx.Client, items: list[dict[str, Any]], kind: str = "aliases", timeout: float = 5
) -> httpx.Response:
    """POST `items` to /v2/multi_messages/<kind> the way the Java SDK does (time_to_send=0)."""
    return client.post(
        f"/v2/multi_messages/{kind}",
        data={"messages": json.dumps(items), "time_to_send": "0"},
        headers=ANDROID_AUTH,
        timeout=timeout,
    )
