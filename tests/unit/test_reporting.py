"""Specifies CredentialsFilter: what Django's error reports may show of URLs, names and locals."""

from __future__ import annotations

import sys

import pytest

from pushworker.conf.redaction import SUBSTITUTE, mask_url_credentials
from pushworker.ops.reporting import CredentialsFilter


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://:pw@redis:6379/0", "redis://********@redis:6379/0"),
        ("postgres://user:pw@db/name", "postgres://********@db/name"),
        # Unencoded '@', '/', '#' and '?' in a password leave no tail behind.
        ("redis://:p@ss/w#r?d@redis:6379/0", "redis://********@redis:6379/0"),
        (
            "sentinel://:pw@h1:26379;sentinel://:pw@h2:26379",
            "sentinel://********@h1:26379;sentinel://********@h2:26379",
        ),
        (
            "rediss://h:6380/0?ssl_keyfile=x&password=pw",
            "rediss://h:6380/0?ssl_keyfile=********&password=********",
        ),
        ("see {'url': 'redis://:pw@h/0'}", "see {'url': 'redis://********@h/0'}"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("plain text, no url", "plain text, no url"),
    ],
)
def test_url_credentials_are_masked_and_nothing_else(text: str, masked: str) -> None:
    assert mask_url_credentials(text) == masked


def test_settings_and_environment_names_that_hold_credentials_are_masked() -> None:
    cleanse = CredentialsFilter().cleanse_setting
    for name in (
        "PGPASSWORD",
        "REDIS_PASSWORD",
        "FLOWER_BASIC_AUTH",
        "SENTRY_DSN",
        "MIPUSH_ANDROID_APP_SECRET",
        "PUSHWORKER_SECRET_KEY",
        "AWS_SESSION_TOKEN",
    ):
        assert cleanse(name, "value") == SUBSTITUTE, name
    assert cleanse("PUSHWORKER_BROKER_URL", "redis://:pw@h/0") == "redis://********@h/0"
    assert cleanse("CACHES", {"default": {"LOCATION": "redis://:pw@h/1"}}) == {
        "default": {"LOCATION": "redis://********@h/1"}
    }
    assert cleanse("ALLOWED_HOSTS", ["localhost"]) == ["localhost"]


def test_frame_locals_named_like_a_secret_or_holding_a_credential_url_are_masked() -> None:
    def frame(app_secret: str, security: str, url: str, options: dict, key: str):
        return sys._getframe()

    variables = dict(
        CredentialsFilter().get_traceback_frame_variables(
            None, frame("s3cret", "s3cret", "redis://:pw@h/0", {"broker": "redis://:pw@h/0"}, "k")
        )
    )
    assert variables["app_secret"] == variables["security"] == SUBSTITUTE
    assert variables["url"] == "redis://********@h/0"
    assert repr(variables["options"]) == "{'broker': 'redis://********@h/0'}"
    assert variables["key"] == "k"  # a loop's `key` is not a credential
