"""Specifies pushworker.demo.settings: the fast numbers the demo and the tests share."""

from __future__ import annotations

from pushworker import conf
from pushworker.demo.settings import FAST_SETTINGS


def test_the_fast_settings_pass_the_configuration_checks() -> None:
    settings = conf.load(FAST_SETTINGS)
    assert settings.visibility_timeout == 13
    assert settings.retry.cap_seconds + settings.claim_lease_seconds < settings.visibility_timeout
