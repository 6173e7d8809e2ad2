"""Specifies pushworker.retention: defaults, environment, per-app overrides, every problem named."""

from __future__ import annotations

import pytest

from pushworker import conf, retention
from pushworker.retention import Retention


def test_the_defaults_are_30_days_90_for_dead_letters_and_an_aggregate() -> None:
    rules = retention.load({}, environ={})
    assert rules.default == Retention(days=30, dead_letter_days=90, keep_daily_aggregate=True)
    assert rules.for_app("anything") == rules.default


def test_the_environment_fills_the_defaults_and_the_dict_wins() -> None:
    environ = {
        "PUSHWORKER_RETENTION_DAYS": "14",
        "PUSHWORKER_DEAD_LETTER_RETENTION_DAYS": "60",
        "PUSHWORKER_KEEP_DAILY_AGGREGATE": "0",
    }
    assert retention.load({}, environ=environ).default == Retention(14, 60, False)
    assert retention.load({"DAYS": 7}, environ=environ).default == Retention(7, 60, False)


def test_an_app_overrides_some_keys_and_inherits_the_rest() -> None:
    rules = retention.load({"DAYS": 20, "APPS": {"shop": {"DAYS": 3}}}, environ={})
    assert rules.for_app("shop") == Retention(3, 90, True)
    assert rules.for_app("qqc") == Retention(20, 90, True)


def test_every_problem_is_named_at_once() -> None:
    spec = {"DAYS": 0, "KEEP": 1, "APPS": {"shop": {"DEAD_LETTER_DAYS": "x"}, "bad": 3}}
    environ = {"PUSHWORKER_KEEP_DAILY_AGGREGATE": "maybe"}
    with pytest.raises(retention.RetentionError) as caught:
        retention.load(spec, environ=environ)
    text = str(caught.value)
    assert "PUSHWORKER['RETENTION']['DAYS']" in text
    assert "PUSHWORKER['RETENTION']['KEEP'] is not a known key" in text
    assert "PUSHWORKER['RETENTION']['APPS']['shop']['DEAD_LETTER_DAYS']" in text
    assert "PUSHWORKER['RETENTION']['APPS']['bad'] must be a dict" in text
    assert "environment['KEEP_DAILY_AGGREGATE']" in text


def test_retention_must_exceed_the_redelivery_horizon() -> None:
    settings = conf.load(environ={"PUSHWORKER_VISIBILITY_TIMEOUT": "30000"})
    horizon = retention.redelivery_horizon_seconds(settings)
    assert horizon > 86_400
    with pytest.raises(retention.RetentionError, match="redelivery horizon"):
        retention.load({"DAYS": 1}, environ={}, settings=settings)
    retention.load({"DAYS": 3}, environ={}, settings=settings)


def test_the_default_horizon_is_far_below_a_day() -> None:
    assert retention.redelivery_horizon_seconds(conf.load(environ={})) < 3_600
