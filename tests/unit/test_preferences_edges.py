"""Preferences where people see them: ``pushworker preferences show|set``, the admin's recipient
page and overview, ``pushworker stats``, and the settings that bound what recipients choose."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from pushworker import cli, conf
from pushworker.conf.parse import parse
from pushworker.events.daily_summary import DailySummary, event_id_of
from pushworker.store import deliveries, preferences, stats
from pushworker.store.models import Delivery, PushDevice, Recipient
from pushworker.store.preferences import Choices
from tests.unit.environment import CREDENTIALS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _credentials(configure, settings):
    configure(**CREDENTIALS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def choose(user: str = "42", **choices) -> None:
    settings = conf.get()
    preferences.save(user, settings.app("qqc"), Choices(**choices), slot=settings.summary_slot)


def suppressed(reason: str, user: str = "42") -> Delivery:
    return Delivery.objects.create(
        event_id=uuid.uuid4(),
        kind="goods_visit",
        app_name="qqc",
        recipient_id=user,
        status="suppressed",
        error_category=reason,
        finished_at=timezone.now(),
    )


def test_preferences_set_changes_what_is_given_and_show_prints_the_apis_body(capsys) -> None:
    change = ["--kind", "goods_visit=daily_summary", "--time-zone", "Europe/Berlin"]
    code, out, err = run(
        capsys, "preferences", "set", "--user", "42", *change, "--summary-hour", "8"
    )
    assert code == 0, err
    assert json.loads(out)["kinds"] == {"goods_visit": "daily_summary", "order_shipped": "instant"}
    code, out, _ = run(capsys, "preferences", "set", "--user", "42", "--quiet-hours", "23:00-07:00")
    shown = json.loads(out)
    assert (shown["time_zone"], shown["summary_hour"], shown["quiet_hours"]) == (
        "Europe/Berlin",
        8,
        "23:00-07:00",
    )  # kept what was not given
    assert shown["effective"]["next_summary_at"] is not None
    code, out, _ = run(capsys, "preferences", "set", "--user", "42", "--time-zone", "default")
    assert json.loads(out)["effective"]["time_zone"] == "Asia/Shanghai"
    code, out, _ = run(capsys, "preferences", "show", "--user", "42")
    assert code == 0 and json.loads(out)["kinds"]["goods_visit"] == "daily_summary"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--kind", "order_shipped=off"], "kinds.order_shipped: order_shipped cannot be muted"),
        (["--kind", "goods_visit=loud"], "kinds.goods_visit: must be one of"),
        (["--summary-hour", "25"], "summary_hour: must be an hour"),
        (["--time-zone", "Mars/Base"], "time_zone: must be an IANA time zone"),
        (["--quiet-hours", "7-9"], "quiet_hours: must be"),
        (["--app", "nosuchapp"], "--app: not one of the apps"),
    ],
)
def test_preferences_set_refuses_what_the_api_refuses_naming_the_field(capsys, argv, named) -> None:
    code, out, err = run(capsys, "preferences", "set", "--user", "42", *argv)
    assert code == 2 and out == ""
    assert named in err
    assert not Recipient.objects.exists()


def test_the_recipients_page_shows_their_preferences_and_the_summaries_sent(admin_client) -> None:
    choose(modes={"goods_visit": "daily_summary"}, summary_hour=9)
    recipient = Recipient.objects.get()
    summary = DailySummary.from_call(
        "42",
        "2026-12-01",
        {"goods_visit": {"events": 30, "subjects": 5, "people": 23}},
        app_name="qqc",
        event_id=event_id_of("qqc", "42", "2026-12-01"),
    )
    deliveries.insert_many([summary], "qqc", published=False)
    Delivery.objects.filter(kind="daily_summary").update(status="sent")
    page = admin_client.get(reverse("admin:pushworker_recipient_change", args=[recipient.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "goods_visit" in text and "daily_summary" in text
    assert "unmutable in this app: always instant" in text  # order_shipped
    assert "9:00" in text
    assert "今天有 23 位用户浏览了您的 5 件商品" in text and "2026-12-01" in text
    listing = admin_client.get(reverse("admin:pushworker_recipient_changelist"), {"q": "42"})
    assert listing.status_code == 200 and "goods_visit: daily_summary" in listing.content.decode()


def test_a_devices_page_links_its_users_preferences(admin_client) -> None:
    device = PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    page = admin_client.get(reverse("admin:pushworker_pushdevice_change", args=[device.pk]))
    assert "the app&#x27;s defaults (no preference chosen)" in page.content.decode()
    choose(modes={"goods_visit": "off"})
    page = admin_client.get(reverse("admin:pushworker_pushdevice_change", args=[device.pk]))
    recipient = reverse("admin:pushworker_recipient_change", args=[Recipient.objects.get().pk])
    assert recipient in page.content.decode()


def test_recipients_cannot_be_changed_from_the_admin(admin_client) -> None:
    choose(modes={"goods_visit": "off"})
    pk = Recipient.objects.get().pk
    assert admin_client.get(reverse("admin:pushworker_recipient_add")).status_code == 403
    answer = admin_client.post(reverse("admin:pushworker_recipient_change", args=[pk]), {})
    assert answer.status_code == 403


def test_the_overview_counts_suppressions_by_reason(admin_client) -> None:
    for reason, n in (("preference_off", 3), ("summary_pending", 2), ("daily_cap", 1)):
        for _ in range(n):
            suppressed(reason)
    old = suppressed("recipient_quiet_hours")
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    page = admin_client.get(reverse("admin:index"))
    counts = {reason: (hour, day) for reason, hour, day, _ in page.context["suppressed"]}
    assert counts["preference_off"] == (3, 3) and counts["summary_pending"] == (2, 2)
    assert counts["recipient_quiet_hours"] == (0, 1) and counts["daily_cap"] == (1, 1)
    assert "error_category__exact=summary_pending" in page.content.decode()


def test_stats_count_suppressions_by_reason(capsys) -> None:
    for reason in ("preference_off", "preference_off", "summary_pending"):
        suppressed(reason)
    numbers = stats.collect(timedelta(hours=1))
    assert numbers["suppressed"] == [("qqc", "preference_off", 2), ("qqc", "summary_pending", 1)]
    code, out, _ = run(capsys, "stats")
    assert code == 0 and "qqc\tpreference_off\t2" in out


def test_unmutable_summary_hour_and_link_are_checked_naming_the_key() -> None:
    base = {"ANDROID": {"APP_SECRET": "s", "PACKAGE_NAME": "a.b"}}
    bad = {"UNMUTABLE": ["refund"], "SUMMARY_HOUR": 24, "SUMMARY_LINK": "shop://x?d={date}"}
    problems = [str(p) for p in parse({"APPS": {"qqc": base | {"POLICY": bad}}})[1]]
    where = "PUSHWORKER['APPS']['qqc']['POLICY']"
    assert any(p.startswith(f"{where} UNMUTABLE: 'refund' is not a kind") for p in problems)
    assert f"{where} SUMMARY_HOUR: must be an hour from 0 to 23, got 24" in problems
    assert f"{where} SUMMARY_LINK: may hold no placeholder but {{day}}" in problems
    labels = {("APPS", "qqc", "POLICY"): "PUSHWORKER_POLICY"}
    spec = {"APPS": {"qqc": base | {"POLICY": "UNMUTABLE=order_shipped goods_visit"}}}
    settings, problems = parse(spec, labels)
    assert problems == [] and settings.app("qqc").policy.unmutable == {
        "order_shipped",
        "goods_visit",
    }
    interval = parse({"APPS": {"qqc": base}, "SUMMARY_INTERVAL": 0})[1]
    assert [str(p) for p in interval] == [
        "PUSHWORKER['SUMMARY_INTERVAL'] must be at least 1, got 0"
    ]


def test_by_default_the_urgent_kinds_are_unmutable() -> None:
    policy = parse({"APPS": {"qqc": {"ANDROID": {"APP_SECRET": "s", "PACKAGE_NAME": "a.b"}}}})[0]
    assert policy.app("qqc").policy.unmutable == {"order_shipped"}
    assert policy.app("qqc").policy.summary_hour == 20
