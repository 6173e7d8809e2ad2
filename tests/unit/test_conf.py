"""Specifies pushworker.conf: defaults, parsing, problems named together, secrets never shown."""

from __future__ import annotations

import json

import pytest

from pushworker import conf
from pushworker.conf import RetryPolicy, Secret, SettingsError

SECRET = "s3cr3t-value-never-printed"
CREDENTIALS = {
    "MIPUSH_ANDROID_APP_SECRET": SECRET,
    "MIPUSH_ANDROID_PACKAGE_NAME": "com.example.shop",
}


def problems_of(environ=None, spec=None) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        conf.load(environ or {}, spec=spec)
    return caught.value.problems


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = conf.load({})
    assert list(settings.apps) == ["qqc"]
    assert settings.default_app == "qqc"
    assert settings.app(None).alias_prefix == "QQC_"
    assert settings.production_url == "https://api.xmpush.xiaomi.com"
    assert settings.sandbox_url == "https://sandbox.xmpush.xiaomi.com"
    assert (settings.connect_timeout, settings.read_timeout) == (3.0, 5.0)
    assert settings.retry == RetryPolicy()
    assert settings.enqueue_budget_seconds == 0.25
    assert settings.breaker_cooldown_seconds == 5.0
    assert settings.enqueue_outbox == "always"
    assert settings.visibility_timeout == 60
    assert settings.stale_after_seconds == 120
    assert settings.max_crashes == 3
    assert settings.claim_lease_seconds == 3 * (3.0 + 5.0) + 2.0 + 2
    assert (settings.relay_interval_seconds, settings.sweep_interval_seconds) == (2.0, 10.0)
    assert settings.nickname_resolver == "pushworker.store.users.from_user_model"
    assert settings.unknown_visitor_name == "访客"


def test_defaults_without_credentials_load_but_note_the_missing_credentials() -> None:
    settings = conf.load({})
    assert settings.apps["qqc"].android is None and settings.apps["qqc"].ios is None
    assert any("MIPUSH_ANDROID_APP_SECRET" in p for p in settings.credential_problems)


def test_every_environment_variable_is_read() -> None:
    settings = conf.load(
        {
            "PUSHWORKER_APP_NAME": "shop",
            "PUSHWORKER_ALIAS_PREFIX": "SHOP_",
            "MIPUSH_ANDROID_APP_SECRET": "a-secret",
            "MIPUSH_ANDROID_PACKAGE_NAME": "com.example.shop",
            "MIPUSH_IOS_APP_SECRET": "i-secret",
            "MIPUSH_IOS_BUNDLE_ID": "com.example.shop.ios",
            "MIPUSH_PRODUCTION_URL": "http://127.0.0.1:9001/",
            "MIPUSH_SANDBOX_URL": "https://sandbox.example",
            "MIPUSH_CONNECT_TIMEOUT": "1.5",
            "MIPUSH_READ_TIMEOUT": "4",
            "PUSHWORKER_QUICK_ATTEMPTS": "2",
            "PUSHWORKER_QUICK_BUDGET": "1.5",
            "PUSHWORKER_QUICK_BASE": "0.1",
            "PUSHWORKER_RETRY_BASE": "1",
            "PUSHWORKER_RETRY_THROTTLED_BASE": "5",
            "PUSHWORKER_RETRY_CAP": "40",
            "PUSHWORKER_RETRY_MAX": "5",
            "PUSHWORKER_VISIBILITY_TIMEOUT": "90",
            "PUSHWORKER_ENQUEUE_BUDGET_MS": "300",
            "PUSHWORKER_BREAKER_COOLDOWN": "7",
            "PUSHWORKER_ENQUEUE_OUTBOX": "on-failure",
            "PUSHWORKER_STALE_AFTER": "400",
            "PUSHWORKER_MAX_CRASHES": "5",
            "PUSHWORKER_RELAY_INTERVAL": "3",
            "PUSHWORKER_SWEEP_INTERVAL": "20",
            "PUSHWORKER_NICKNAME_RESOLVER": "myproject.users.nickname",
            "PUSHWORKER_UNKNOWN_VISITOR_NAME": "someone",
        }
    )
    app = settings.app("shop")
    assert (settings.default_app, app.alias_prefix) == ("shop", "SHOP_")
    assert app.android.package == "com.example.shop" and app.android.secret.value == "a-secret"
    assert app.ios.package == "com.example.shop.ios" and app.ios.secret.value == "i-secret"
    assert settings.production_url == "http://127.0.0.1:9001"
    assert settings.sandbox_url == "https://sandbox.example"
    assert (settings.connect_timeout, settings.read_timeout) == (1.5, 4.0)
    assert settings.retry == RetryPolicy(
        quick_attempts=2,
        quick_budget_seconds=1.5,
        quick_base_seconds=0.1,
        base_seconds=1.0,
        throttled_base_seconds=5.0,
        cap_seconds=40.0,
        max_retries=5,
    )
    assert isinstance(settings.retry.quick_attempts, int)
    assert isinstance(settings.retry.max_retries, int)
    assert settings.visibility_timeout == 90
    assert settings.enqueue_budget_seconds == pytest.approx(0.3)
    assert settings.breaker_cooldown_seconds == 7.0
    assert settings.enqueue_outbox == "on-failure"
    assert settings.stale_after_seconds == 400
    assert settings.max_crashes == 5
    assert settings.claim_lease_seconds == pytest.approx(2 * (1.5 + 4.0) + 1.5 + 2)
    assert (settings.relay_interval_seconds, settings.sweep_interval_seconds) == (3.0, 20.0)
    assert settings.nickname_resolver == "myproject.users.nickname"
    assert settings.unknown_visitor_name == "someone"
    assert settings.credential_problems == ()


def test_the_stale_after_default_follows_a_long_visibility_timeout() -> None:
    assert conf.load({"PUSHWORKER_VISIBILITY_TIMEOUT": "100"}).stale_after_seconds == 200


def test_values_are_stripped_and_empty_values_mean_the_default() -> None:
    settings = conf.load(
        {
            "PUSHWORKER_RETRY_MAX": "",
            "PUSHWORKER_APP_NAME": "  shop  ",
            "PUSHWORKER_ENQUEUE_OUTBOX": " ",
            "MIPUSH_PRODUCTION_URL": "",
        }
    )
    assert settings.retry.max_retries is None  # unset: retries end with the kind's lifetime
    assert settings.default_app == "shop"
    assert settings.enqueue_outbox == "always"
    assert settings.production_url == conf.XIAOMI_PRODUCTION_URL


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("PUSHWORKER_RETRY_MAX", "many", "must be an integer, got 'many'"),
        ("PUSHWORKER_QUICK_ATTEMPTS", "2.5", "must be an integer, got '2.5'"),
        ("PUSHWORKER_QUICK_ATTEMPTS", "0", "must be at least 1"),
        ("MIPUSH_READ_TIMEOUT", "0", "must be at least 0.01"),
        ("PUSHWORKER_RETRY_BASE", "-1", "must be at least 0"),
        ("PUSHWORKER_ENQUEUE_BUDGET_MS", "5", "must be at least 10"),
        ("PUSHWORKER_MAX_CRASHES", "0", "must be at least 1"),
        ("PUSHWORKER_BATCH_SIZE", "5000", "must be at most 1000"),  # Xiaomi's targets per request
        ("PUSHWORKER_BATCH_SIZE", "0", "must be at least 1"),
        ("PUSHWORKER_BACKLOG_THRESHOLD", "-1", "must be at least 0"),
        ("PUSHWORKER_VISIBILITY_TIMEOUT", "soon", "must be an integer"),
        ("PUSHWORKER_ENQUEUE_OUTBOX", "sometimes", "must be one of always, on-failure, got 'some"),
        ("PUSHWORKER_ENQUEUE_COMMIT", "off", "must be one of durable, asynchronous, got 'off'"),
        ("MIPUSH_PRODUCTION_URL", "api.xmpush.xiaomi.com", "must be an http:// or https:// URL"),
        ("MIPUSH_SANDBOX_URL", "ftp://sandbox", "must be an http:// or https:// URL"),
    ],
)
def test_a_bad_value_is_a_problem_naming_its_key(key: str, value: str, expected: str) -> None:
    [problem] = problems_of({key: value})
    assert problem.startswith(key)
    assert expected in problem


def test_every_problem_is_reported_together_each_naming_its_key() -> None:
    bad = {
        "PUSHWORKER_RETRY_MAX": "x",
        "MIPUSH_CONNECT_TIMEOUT": "-3",
        "PUSHWORKER_ENQUEUE_OUTBOX": "never",
        "MIPUSH_SANDBOX_URL": "sandbox",
        "MIPUSH_IOS_APP_SECRET": SECRET,  # and no bundle id
    }
    with pytest.raises(SettingsError) as caught:
        conf.load(bad)
    problems = caught.value.problems
    assert len(problems) == len(bad)
    for key in (
        "PUSHWORKER_RETRY_MAX",
        "MIPUSH_CONNECT_TIMEOUT",
        "PUSHWORKER_ENQUEUE_OUTBOX",
        "MIPUSH_SANDBOX_URL",
        "MIPUSH_IOS_BUNDLE_ID",
    ):
        assert sum(key in p for p in problems) == 1, key
        assert key in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_secret_never_shows_its_value() -> None:
    secret = Secret(SECRET)
    assert SECRET not in repr(secret) and SECRET not in str(secret) and SECRET not in f"{secret}"
    assert repr(secret) == "Secret('****')"
    assert secret.masked() == f"**** ({len(SECRET)} chars)"
    assert Secret("").masked() == "(empty)"
    assert secret.value == SECRET


def test_settings_repr_and_describe_never_show_a_secret() -> None:
    settings = conf.load(
        {
            **CREDENTIALS,
            "MIPUSH_IOS_APP_SECRET": "ios-" + SECRET,
            "MIPUSH_IOS_BUNDLE_ID": "com.example.ios",
        }
    )
    assert SECRET not in repr(settings)
    described = json.dumps(settings.describe(), ensure_ascii=False)
    assert SECRET not in described
    app = settings.describe()["apps"]["qqc"]
    assert app["android"] == {
        "package": "com.example.shop",
        "app_secret": f"**** ({len(SECRET)} chars)",
    }
    assert app["ios"]["package"] == "com.example.ios"


def test_describe_shows_an_absent_platform_as_none_the_retries_lifetimes_and_outage() -> None:
    described = conf.load({**CREDENTIALS, "PUSHWORKER_LIFETIMES": "goods_visit=600"}).describe()
    assert described["apps"]["qqc"]["ios"] is None
    assert described["retry"]["max_retries"] is None
    assert described["lifetimes"] == {"goods_visit": 600.0}
    assert described["outage"]["failures"] == 5


def test_lifetimes_name_kinds_and_positive_seconds() -> None:
    settings = conf.load({"PUSHWORKER_LIFETIMES": "goods_visit=60, order_shipped=3600"})
    assert settings.lifetimes == {"goods_visit": 60.0, "order_shipped": 3600.0}
    problems = problems_of({"PUSHWORKER_LIFETIMES": "goods_visits=60,order_shipped=-1"})
    assert any("goods_visits" in p and "is not a kind" in p for p in problems)
    assert any("order_shipped" in p and "above 0" in p for p in problems)
    assert problems_of({"PUSHWORKER_LIFETIMES": "600"})  # no kind named


def test_the_outage_breaker_is_configured_and_checked() -> None:
    settings = conf.load(
        {"PUSHWORKER_OUTAGE_FAILURES": "3", "PUSHWORKER_OUTAGE_PROBE_LONGEST": "5"}
    )
    assert (settings.outage.failures, settings.outage.longest_seconds) == (3, 5.0)
    assert problems_of({"PUSHWORKER_OUTAGE_FAILURES": "0"})


def test_a_countdown_plus_a_run_that_reach_the_visibility_timeout_are_refused() -> None:
    # 30 s cap + (3 × (3 + 5) + 2 + 2) = 58 s fits 60 s; a 6 s read timeout makes it 61 s
    [problem] = problems_of({"MIPUSH_READ_TIMEOUT": "6"})
    assert "PUSHWORKER_RETRY_CAP (30 s)" in problem and "(31 s" in problem


def test_a_retry_cap_longer_than_half_the_visibility_timeout_is_fine_when_a_drain_fits() -> None:
    # Retries wait as rows, not as broker countdowns: only a drain's run must fit (cap + lease).
    assert conf.load({"PUSHWORKER_RETRY_CAP": "50", "PUSHWORKER_VISIBILITY_TIMEOUT": "90"})


def test_a_task_run_that_can_outlast_the_visibility_timeout_is_refused_naming_the_keys() -> None:
    # 10 × (3 + 5) + 2 + 2 s margin = 84 s of run, plus a 30 s countdown, against 60 s
    [problem] = problems_of({"PUSHWORKER_QUICK_ATTEMPTS": "10"})
    assert "84 s" in problem
    for key in (
        "PUSHWORKER_QUICK_ATTEMPTS",
        "MIPUSH_CONNECT_TIMEOUT",
        "MIPUSH_READ_TIMEOUT",
        "PUSHWORKER_QUICK_BUDGET",
        "PUSHWORKER_VISIBILITY_TIMEOUT",
    ):
        assert key in problem


def test_the_retry_policy_doubles_its_countdown_up_to_the_cap() -> None:
    policy = RetryPolicy(base_seconds=2, throttled_base_seconds=10, cap_seconds=30)
    assert [policy.countdown_ceiling(n) for n in range(5)] == [2, 4, 8, 16, 30]
    assert [policy.countdown_ceiling(n, throttled=True) for n in range(3)] == [10, 20, 30]


SEVERAL_APPS = {
    "DEFAULT_APP": "shop",
    "APPS": {
        "shop": {
            "ALIAS_PREFIX": "SHOP_",
            "ANDROID": {"APP_SECRET": SECRET, "PACKAGE_NAME": "com.example.shop"},
            "IOS": {"APP_SECRET": "ios-" + SECRET, "BUNDLE_ID": "com.example.shop.ios"},
        },
        "seller": {
            "ALIAS_PREFIX": "SELLER_",
            "ANDROID": {"APP_SECRET": "seller-" + SECRET, "PACKAGE_NAME": "com.example.seller"},
        },
    },
}


def test_a_pushworker_dict_configures_several_apps() -> None:
    settings = conf.load({}, spec=SEVERAL_APPS)
    assert sorted(settings.apps) == ["seller", "shop"]
    assert settings.default_app == "shop"
    assert settings.app(None).name == "shop"
    seller = settings.app("seller")
    assert seller.alias_prefix == "SELLER_"
    assert seller.android.package == "com.example.seller"
    assert seller.ios is None
    assert settings.app("shop").ios.secret.value == "ios-" + SECRET
    assert settings.credential_problems == ()


def test_the_first_app_is_the_default_when_the_dict_names_none() -> None:
    spec = {"APPS": dict(SEVERAL_APPS["APPS"])}
    assert conf.load({}, spec=spec).default_app == "shop"


def test_the_dict_ignores_the_single_app_variables() -> None:
    settings = conf.load({"PUSHWORKER_APP_NAME": "other", **CREDENTIALS}, spec=SEVERAL_APPS)
    assert "other" not in settings.apps


def test_an_unknown_app_is_a_key_error_naming_the_configured_apps() -> None:
    settings = conf.load({}, spec=SEVERAL_APPS)
    with pytest.raises(KeyError, match=r"unknown app 'nope'.*\['seller', 'shop'\]"):
        settings.app("nope")


def test_unknown_keys_in_the_dict_are_named() -> None:
    spec = {
        "APPS": {"shop": {**SEVERAL_APPS["APPS"]["shop"], "ALIAS": "x"}},
        "DEFALT_APP": "shop",
    }
    problems = problems_of(spec=spec)
    assert any("PUSHWORKER['DEFALT_APP'] is not a known key" in p for p in problems)
    assert any("PUSHWORKER['APPS']['shop']['ALIAS'] is not a known key" in p for p in problems)
    assert len(problems) == 2


def test_unknown_keys_of_a_platform_in_the_dict_are_named() -> None:
    spec = {"APPS": {"shop": {"ANDROID": {"APP_SECRET": SECRET, "PACKAGE": "com.example.shop"}}}}
    problems = problems_of(spec=spec)
    assert any(
        "PUSHWORKER['APPS']['shop']['ANDROID']['PACKAGE'] is not a known key" in p for p in problems
    )
    assert SECRET not in " ".join(problems)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"APPS": {"shop": "com.example.shop"}}, "PUSHWORKER['APPS']['shop'] must be a dict"),
        (
            {"APPS": {"shop": {"ANDROID": "com.example.shop"}}},
            "PUSHWORKER['APPS']['shop']['ANDROID'] must be a dict",
        ),
        ({"APPS": ["shop"]}, "PUSHWORKER['APPS'] must be a dict"),
        ({"APPS": {}}, "PUSHWORKER['APPS'] must name at least one app"),
        (
            {**SEVERAL_APPS, "DEFAULT_APP": "buyer"},
            "PUSHWORKER['DEFAULT_APP'] 'buyer' is not one of the apps",
        ),
    ],
)
def test_a_malformed_dict_is_a_problem_naming_where(spec, expected: str) -> None:
    assert any(expected in p for p in problems_of(spec=spec))


def test_require_credentials_lists_every_missing_secret() -> None:
    settings = conf.load(
        {
            "MIPUSH_ANDROID_PACKAGE_NAME": "com.example.shop",
            "MIPUSH_IOS_BUNDLE_ID": "com.example.shop.ios",
        }
    )
    with pytest.raises(SettingsError) as caught:
        settings.require_credentials()
    assert len(caught.value.problems) == 2
    assert "MIPUSH_ANDROID_APP_SECRET is missing" in str(caught.value)
    assert "MIPUSH_IOS_APP_SECRET is missing" in str(caught.value)


def test_require_credentials_names_an_app_without_any_credentials() -> None:
    settings = conf.load({"PUSHWORKER_APP_NAME": "shop"})
    with pytest.raises(
        SettingsError, match=r"app 'shop' \(PUSHWORKER_APP_NAME\) has no credentials"
    ):
        settings.require_credentials()


def test_require_credentials_names_the_dict_key_of_a_missing_secret() -> None:
    spec = {"APPS": {"shop": {"IOS": {"BUNDLE_ID": "com.example.shop.ios"}}}}
    with pytest.raises(SettingsError) as caught:
        conf.load({}, spec=spec).require_credentials()
    assert "PUSHWORKER['APPS']['shop']['IOS']['APP_SECRET'] is missing" in str(caught.value)


def test_require_credentials_passes_when_every_app_can_send() -> None:
    conf.load(CREDENTIALS).require_credentials()
    conf.load({}, spec=SEVERAL_APPS).require_credentials()


def test_a_secret_without_its_package_fails_at_load_naming_the_package_key() -> None:
    [problem] = problems_of({"MIPUSH_ANDROID_APP_SECRET": SECRET})
    assert problem.startswith("MIPUSH_ANDROID_PACKAGE_NAME is missing")
    assert SECRET not in problem


def test_a_secret_without_its_bundle_id_in_the_dict_fails_naming_the_dict_key() -> None:
    spec = {"APPS": {"shop": {"IOS": {"APP_SECRET": SECRET}}}}
    [problem] = problems_of(spec=spec)
    assert problem.startswith("PUSHWORKER['APPS']['shop']['IOS']['BUNDLE_ID'] is missing")


def test_get_reads_the_host_projects_pushworker_setting_once(settings, monkeypatch) -> None:
    for key in ("MIPUSH_ANDROID_APP_SECRET", "PUSHWORKER_RETRY_MAX"):
        monkeypatch.delenv(key, raising=False)
    settings.PUSHWORKER = SEVERAL_APPS
    conf.get.cache_clear()
    loaded = conf.get()
    assert sorted(loaded.apps) == ["seller", "shop"]
    monkeypatch.setenv("PUSHWORKER_RETRY_MAX", "2")
    assert conf.get() is loaded  # read once; a changed environment needs a restart


EVERY_KEY = {
    "APPS": {
        "shop": {
            "ALIAS_PREFIX": "SHOP_",
            "ANONYMOUS_NICKNAME": "a visitor",
            "ANDROID": {"APP_SECRET": "a-secret", "PACKAGE_NAME": "com.example.shop"},
            "IOS": {"APP_SECRET": "i-secret", "BUNDLE_ID": "com.example.shop.ios"},
        }
    },
    "DEFAULT_APP": "shop",
    "PRODUCTION_URL": "http://127.0.0.1:9001/",
    "SANDBOX_URL": "https://sandbox.example",
    "CONNECT_TIMEOUT": 1.5,
    "READ_TIMEOUT": 4,
    "QUICK_ATTEMPTS": 2,
    "QUICK_BUDGET": 1.5,
    "QUICK_BASE": 0.1,
    "RETRY_BASE": 1,
    "RETRY_THROTTLED_BASE": 5,
    "RETRY_CAP": 40,
    "RETRY_MAX": 5,
    "VISIBILITY_TIMEOUT": 90,
    "ENQUEUE_BUDGET_MS": 300,
    "BREAKER_COOLDOWN": 7,
    "ENQUEUE_OUTBOX": "on-failure",
    "STALE_AFTER": 400,
    "MAX_CRASHES": 5,
    "RELAY_INTERVAL": 3,
    "SWEEP_INTERVAL": 20,
    "NICKNAME_RESOLVER": "myproject.users.nickname",
    "UNKNOWN_VISITOR_NAME": "someone",
}
EVERY_VARIABLE = {
    "PUSHWORKER_APP_NAME": "shop",
    "PUSHWORKER_ALIAS_PREFIX": "SHOP_",
    "PUSHWORKER_ANONYMOUS_NICKNAME": "a visitor",
    "MIPUSH_ANDROID_APP_SECRET": "a-secret",
    "MIPUSH_ANDROID_PACKAGE_NAME": "com.example.shop",
    "MIPUSH_IOS_APP_SECRET": "i-secret",
    "MIPUSH_IOS_BUNDLE_ID": "com.example.shop.ios",
    "MIPUSH_PRODUCTION_URL": "http://127.0.0.1:9001/",
    "MIPUSH_SANDBOX_URL": "https://sandbox.example",
    "MIPUSH_CONNECT_TIMEOUT": "1.5",
    "MIPUSH_READ_TIMEOUT": "4",
    "PUSHWORKER_QUICK_ATTEMPTS": "2",
    "PUSHWORKER_QUICK_BUDGET": "1.5",
    "PUSHWORKER_QUICK_BASE": "0.1",
    "PUSHWORKER_RETRY_BASE": "1",
    "PUSHWORKER_RETRY_THROTTLED_BASE": "5",
    "PUSHWORKER_RETRY_CAP": "40",
    "PUSHWORKER_RETRY_MAX": "5",
    "PUSHWORKER_VISIBILITY_TIMEOUT": "90",
    "PUSHWORKER_ENQUEUE_BUDGET_MS": "300",
    "PUSHWORKER_BREAKER_COOLDOWN": "7",
    "PUSHWORKER_ENQUEUE_OUTBOX": "on-failure",
    "PUSHWORKER_STALE_AFTER": "400",
    "PUSHWORKER_MAX_CRASHES": "5",
    "PUSHWORKER_RELAY_INTERVAL": "3",
    "PUSHWORKER_SWEEP_INTERVAL": "20",
    "PUSHWORKER_NICKNAME_RESOLVER": "myproject.users.nickname",
    "PUSHWORKER_UNKNOWN_VISITOR_NAME": "someone",
}


def test_every_key_of_the_dict_is_read_and_the_environment_fills_the_same_dict() -> None:
    from_dict = conf.load({}, spec=EVERY_KEY)
    assert from_dict == conf.load(EVERY_VARIABLE)
    assert from_dict.app("shop").anonymous_nickname == "a visitor"
    assert from_dict.retry.max_retries == 5 and from_dict.visibility_timeout == 90
    assert from_dict.production_url == "http://127.0.0.1:9001"


def test_every_top_level_key_has_an_environment_variable() -> None:
    from pushworker.conf import env as conf_env
    from pushworker.conf import parse as conf_parse

    # RETENTION's keys are filled one by one (conf_env.RETENTION_KEYS).
    nested = {"APPS", "DEFAULT_APP", "RETENTION"}
    assert set(conf_env.TOP_LEVEL) == set(conf_parse.TOP_KEYS) - nested


def test_the_anonymous_nickname_has_a_default_per_app() -> None:
    assert conf.load({}).app(None).anonymous_nickname == conf.DEFAULT_ANONYMOUS_NICKNAME
    assert conf.load({}, spec=SEVERAL_APPS).app("seller").anonymous_nickname == "有用户"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("RETRY_MAX", "8", "PUSHWORKER['RETRY_MAX'] must be an integer, got str '8'"),
        ("RETRY_MAX", 2.5, "PUSHWORKER['RETRY_MAX'] must be an integer, got float 2.5"),
        ("RETRY_CAP", True, "PUSHWORKER['RETRY_CAP'] must be a number, got bool True"),
        ("VISIBILITY_TIMEOUT", 0, "PUSHWORKER['VISIBILITY_TIMEOUT'] must be at least 1"),
        ("PRODUCTION_URL", 8765, "PUSHWORKER['PRODUCTION_URL'] must be a string, got int"),
        ("ENQUEUE_OUTBOX", "never", "PUSHWORKER['ENQUEUE_OUTBOX'] must be one of always"),
        ("NICKNAME_RESOLVER", "nickname", "PUSHWORKER['NICKNAME_RESOLVER'] must be a dotted"),
        ("RETRY_MAXIMUM", 3, "PUSHWORKER['RETRY_MAXIMUM'] is not a known key"),
    ],
)
def test_a_wrong_type_or_value_in_the_dict_is_named(key: str, value, expected: str) -> None:
    problems = problems_of(spec={**SEVERAL_APPS, key: value})
    assert [p for p in problems if p.startswith(expected)], problems


def test_a_none_secret_is_a_missing_secret_never_the_text_none() -> None:
    spec = {"APPS": {"shop": {"ANDROID": {"APP_SECRET": None, "PACKAGE_NAME": "com.x.shop"}}}}
    settings = conf.load({}, spec=spec)
    assert settings.app("shop").android.secret.value == ""
    [problem] = settings.credential_problems
    assert problem.startswith("PUSHWORKER['APPS']['shop']['ANDROID']['APP_SECRET'] is missing")
    with pytest.raises(SettingsError):
        settings.require_credentials()


@pytest.mark.parametrize("bad", ["has space", "ünïcode", "tab\there", "x" * 257, "new\nline"])
def test_a_secret_of_the_wrong_shape_is_named_without_its_value(bad: str) -> None:
    spec = {"APPS": {"shop": {"IOS": {"APP_SECRET": bad, "BUNDLE_ID": "com.x.shop"}}}}
    [problem] = problems_of(spec=spec)
    assert problem.startswith("PUSHWORKER['APPS']['shop']['IOS']['APP_SECRET'] must be printable")
    assert bad not in problem
    [problem] = problems_of({"MIPUSH_IOS_APP_SECRET": bad, "MIPUSH_IOS_BUNDLE_ID": "com.x"})
    assert problem.startswith("MIPUSH_IOS_APP_SECRET must be printable") and bad not in problem


@pytest.mark.parametrize(
    ("key", "value"),
    [("ALIAS_PREFIX", "A,B_"), ("ALIAS_PREFIX", "A B"), ("ANONYMOUS_NICKNAME", "x\x00")],
)
def test_app_text_that_would_break_a_send_is_refused(key: str, value: str) -> None:
    spec = {"APPS": {"shop": {**SEVERAL_APPS["APPS"]["shop"], key: value}}}
    [problem] = problems_of(spec=spec)
    assert problem.startswith(f"PUSHWORKER['APPS']['shop']['{key}'] must be")


def test_a_package_of_the_wrong_shape_is_named() -> None:
    spec = {"APPS": {"shop": {"ANDROID": {"APP_SECRET": SECRET, "PACKAGE_NAME": "com x"}}}}
    [problem] = problems_of(spec=spec)
    assert problem.startswith("PUSHWORKER['APPS']['shop']['ANDROID']['PACKAGE_NAME'] must be")


def test_the_settings_error_is_not_the_clients_configuration_error() -> None:
    from pushworker import mipush

    assert not issubclass(SettingsError, mipush.ConfigurationError)
    assert not hasattr(conf, "ConfigurationError")


def test_inspect_reports_every_problem_without_raising() -> None:
    settings, problems = conf.inspect({"PUSHWORKER_RETRY_MAX": "x"})
    assert settings.retry.max_retries == 0  # the bad value's stand-in; the problem names it
    assert [str(p) for p in problems if not p.credentials] == [
        "PUSHWORKER_RETRY_MAX must be an integer, got 'x'"
    ]
    assert any(p.credentials for p in problems)
