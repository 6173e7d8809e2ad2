"""Specifies conf.retention: defaults, environment, per-app overrides, every problem named."""

from __future__ import annotations

import pytest

from pushworker import conf
from pushworker.conf import env as conf_env
from pushworker.conf import retention
from pushworker.conf.retention import Retention


def from_environment(**environ: str) -> dict:
    return conf_env.to_spec(environ)[0].get("RETENTION", {})


def test_the_defaults_are_30_days_90_for_dead_letters_and_an_aggregate() -> None:
    rules = retention.load({})
    assert rules.default == Retention(days=30, dead_letter_days=90, keep_daily_aggregate=True)
    assert rules.for_app("anything") == rules.default


def test_the_environment_fills_the_same_keys() -> None:
    spec = from_environment(
        PUSHWORKER_RETENTION_DAYS="14",
        PUSHWORKER_DEAD_LETTER_RETENTION_DAYS="60",
        PUSHWORKER_KEEP_DAILY_AGGREGATE="0",
    )
    assert spec == {"DAYS": "14", "DEAD_LETTER_DAYS": "60", "KEEP_DAILY_AGGREGATE": "0"}
    assert retention.load(spec).default == Retention(14, 60, False)
    assert from_environment() == {}


def test_an_app_overrides_some_keys_and_inherits_the_rest() -> None:
    rules = retention.load({"DAYS": 20, "APPS": {"shop": {"DAYS": 3}}})
    assert rules.for_app("shop") == Retention(3, 90, True)
    assert rules.for_app("qqc") == Retention(20, 90, True)


def test_every_problem_is_named_at_once() -> None:
    spec = {
        "DAYS": 0,
        "KEEP": 1,
        "KEEP_DAILY_AGGREGATE": "maybe",
        "APPS": {"shop": {"DEAD_LETTER_DAYS": "x"}, "bad": 3},
    }
    with pytest.raises(retention.RetentionError) as caught:
        retention.load(spec)
    text = str(caught.value)
    assert "PUSHWORKER['RETENTION']['DAYS']" in text
    assert "PUSHWORKER['RETENTION']['KEEP'] is not a known key" in text
    assert "PUSHWORKER['RETENTION']['APPS']['shop']['DEAD_LETTER_DAYS']" in text
    assert "PUSHWORKER['RETENTION']['APPS']['bad'] must be a dict" in text
    assert "PUSHWORKER['RETENTION']['KEEP_DAILY_AGGREGATE'] must be true or false" in text


def test_retention_must_exceed_the_redelivery_horizon() -> None:
    settings = conf.load(environ={"PUSHWORKER_VISIBILITY_TIMEOUT": "30000"})
    horizon = retention.redelivery_horizon_seconds(settings)
    assert horizon > 86_400
    with pytest.raises(retention.RetentionError, match="redelivery horizon"):
        retention.load({"DAYS": 1}, settings=settings)
    retention.load({"DAYS": 3}, settings=settings)


def test_the_default_horizon_is_far_below_a_day() -> None:
    assert retention.redelivery_horizon_seconds(conf.load(environ={})) < 3_600


def test_manage_py_check_names_each_bad_retention_key(settings) -> None:
    from django.core import checks

    settings.PUSHWORKER = {"APPS": {"qqc": {}}, "RETENTION": {"DAYS": "soon", "KEPT": 1}}
    errors = [m for m in checks.run_checks() if m.id == "pushworker.E003"]
    assert {e.msg.split(" ")[0] for e in errors} == {
        "PUSHWORKER['RETENTION']['DAYS']",
        "PUSHWORKER['RETENTION']['KEPT']",
    }
