"""Recipients' preferences in the delivery policy (store/preferences.py, delivery/preferences.py,
delivery/policy.py): through service.deliver and drains, a private redis-server, the real
emulator, and a simulated clock where the hour matters."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from pushworker import conf
from pushworker.delivery import policy, service
from pushworker.events import GoodsVisit
from pushworker.events.order_shipped import OrderShipped
from pushworker.ops import metrics
from pushworker.store import deliveries, preferences
from pushworker.store.models import Delivery, Preference, PushDevice, Recipient
from pushworker.store.preferences import Choices
from tests.unit.environment import emulator_env
from tests.unit.test_policy import client  # noqa: F401 - the policy's private Redis

pytestmark = pytest.mark.django_db
SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")


@pytest.fixture
def with_policy(fresh_emulator, configure, client):  # noqa: F811
    """``with_policy(spec)``: sending to the emulator with PUSHWORKER_POLICY=spec ("": defaults)."""

    def apply(spec: str = "", **env: str) -> object:
        configure(**emulator_env(fresh_emulator, PUSHWORKER_POLICY=spec, **env))
        for user in ("42", "43", "44"):
            PushDevice.objects.get_or_create(user_id=user, app_name="qqc", os_type="android")
        return fresh_emulator

    return apply


def choose(user: str = "42", **choices) -> Choices:
    """What the recipient chose (``Choices`` fields), saved as the API saves it."""
    settings = conf.get()
    return preferences.save(
        user, settings.app("qqc"), Choices(**choices), slot=settings.summary_slot
    )


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(policy, "clock", lambda: moment)


def visit(owner: str = "42", visitor: str = "7") -> GoodsVisit:
    return GoodsVisit.from_call(owner, visitor, "1001", "二手自行车")


def shipped(buyer: str = "42") -> OrderShipped:
    return OrderShipped.from_call(buyer, "o-1", "二手自行车", "顺丰")


def outcome(event) -> tuple[str, str]:
    row = Delivery.objects.get(event_id=event.event_id)
    return row.status, row.error_category


def local(zone: ZoneInfo, hour: int) -> datetime:
    """Today's ``hour``:30 in ``zone`` (the policy's clock only; nothing is scheduled by it)."""
    return datetime.now(zone).replace(hour=hour, minute=30, second=0, microsecond=0)


def test_a_kind_turned_off_ends_suppressed_preference_off_and_others_still_hear(
    with_policy,
) -> None:
    emulator = with_policy()
    choose(modes={"goods_visit": "off"})
    mine, theirs = visit("42"), visit("43")
    service.deliver(mine)
    service.deliver(theirs)
    assert outcome(mine) == ("suppressed", "preference_off")
    assert outcome(theirs) == ("sent", "")
    assert [m["targets"] for m in emulator.messages()] == [["QQC_43"]]


def test_a_kind_summarized_ends_suppressed_summary_pending_with_no_instant_push(
    with_policy,
) -> None:
    emulator = with_policy()
    choose(modes={"goods_visit": "daily_summary"})
    events = [visit("42", str(n)) for n in range(7)]
    for event in events:
        service.deliver(event)
    assert {outcome(e) for e in events} == {("suppressed", "summary_pending")}
    assert emulator.messages() == []
    recipient = Recipient.objects.get()
    assert recipient.summary_due_at is not None  # the summary is scheduled


def test_an_unmutable_kind_is_sent_instantly_whatever_was_chosen_and_in_their_quiet_hours(
    with_policy, monkeypatch
) -> None:
    emulator = with_policy("QUIET_HOURS_MODE=drop")
    # A row written before the app declared the kind unmutable (the API refuses it now).
    choose(quiet_hours=(time(0, 0), time(23, 59)))
    Preference.objects.create(recipient=Recipient.objects.get(), kind="order_shipped", mode="off")
    order, seen = shipped(), visit()
    service.deliver(order)
    service.deliver(seen)
    assert outcome(order) == ("sent", "")  # order_shipped is UNMUTABLE by default (urgent)
    assert outcome(seen) == ("suppressed", "recipient_quiet_hours")
    assert len(emulator.messages()) == 1


def test_an_app_may_let_recipients_mute_an_urgent_kind(with_policy) -> None:
    emulator = with_policy("UNMUTABLE=none")
    choose(modes={"order_shipped": "off"})
    order = shipped()
    service.deliver(order)
    assert outcome(order) == ("suppressed", "preference_off")
    assert emulator.messages() == []


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("drop", ("suppressed", "recipient_quiet_hours")),
        ("hold", ("retrying", "recipient_quiet_hours")),
    ],
)
def test_personal_quiet_hours_in_the_recipients_zone_follow_the_apps_mode(
    with_policy, monkeypatch, mode, expected
) -> None:
    emulator = with_policy(f"QUIET_HOURS_MODE={mode}")
    choose(time_zone="Europe/Berlin", quiet_hours=(time(22), time(7)))
    at(monkeypatch, local(BERLIN, 23))  # 23:30 in Berlin: 06:30 or 07:30 in Shanghai
    mine, theirs = visit("42"), visit("43")
    service.deliver(mine)
    service.deliver(theirs)
    assert outcome(mine) == expected
    assert outcome(theirs) == ("sent", "")  # the app itself has no quiet hours
    assert [m["targets"] for m in emulator.messages()] == [["QQC_43"]]
    if mode == "hold":  # it waits for 07:00 in Berlin, spending nothing
        row = Delivery.objects.get(event_id=mine.event_id)
        wait = (row.next_attempt_at - timezone.now()).total_seconds()
        assert row.retries == 0 and 7.5 * 3600 - 120 < wait <= 7.5 * 3600 + 1


def test_personal_quiet_hours_carry_time_to_send_at_their_end_in_their_zone(
    with_policy, monkeypatch
) -> None:
    emulator = with_policy()  # QUIET_HOURS_MODE time_to_send, the default
    choose(time_zone="Europe/Berlin", quiet_hours=(time(22), time(7)))
    night = local(BERLIN, 23) + timedelta(days=1)
    at(monkeypatch, night)
    service.deliver(visit())
    morning = (night + timedelta(hours=7, minutes=30)).astimezone(BERLIN)
    assert (morning.hour, morning.minute) == (7, 0)
    fields = emulator.messages()[0]["fields"]
    assert fields["time_to_send"] == str(int(morning.timestamp() * 1000))


def test_personal_quiet_hours_replace_the_apps(with_policy, monkeypatch) -> None:
    emulator = with_policy("QUIET_HOURS=22:00-08:00,QUIET_HOURS_MODE=drop")
    choose(quiet_hours=(time(1), time(5)))  # in the app's zone: theirs is 01:00-05:00
    at(monkeypatch, local(SHANGHAI, 23))
    mine, theirs = visit("42"), visit("43")
    service.deliver(mine)
    service.deliver(theirs)
    assert outcome(mine) == ("sent", "")  # 23:30 is outside their own quiet hours
    assert outcome(theirs) == ("suppressed", "quiet_hours")  # the app's, for everyone else
    assert len(emulator.messages()) == 1


def test_a_drain_reads_every_recipients_preferences_in_one_query(with_policy) -> None:
    emulator = with_policy("DAILY_CAP=0,DEDUP_WINDOW=0")
    choose("42", modes={"goods_visit": "off"})
    choose("43", modes={"goods_visit": "daily_summary"})
    events = []
    for n in range(30):
        event = visit(("42", "43", "44")[n % 3], str(n))
        deliveries.ensure(event, "qqc", published=False)
        events.append(event)
    statements: list[str] = []
    settings = conf.get()
    with connection.execute_wrapper(lambda run, sql, *a: statements.append(sql) or run(sql, *a)):
        claimed = service.claim("run", settings)
        counts = service.drain(claimed, settings).counts
    assert counts == {"sent": 10, "suppressed": 20}
    assert [outcome(e)[1] for e in events[:3]] == ["preference_off", "summary_pending", ""]
    reads = [s for s in statements if "pushworker_recipient" in s]
    assert len(reads) == 1, reads  # one query for the 30 events' recipients, not one each
    assert len(emulator.messages()) == 10
    assert emulator.stats()["requests"] == 1  # the ten of 44 in one multi_messages request


def test_saving_the_apps_defaults_leaves_no_row(with_policy) -> None:
    with_policy()
    choose(modes={"goods_visit": "daily_summary"}, summary_hour=9)
    assert (Recipient.objects.count(), Preference.objects.count()) == (1, 1)
    assert choose(modes={"goods_visit": "instant"}) == preferences.NONE
    assert (Recipient.objects.count(), Preference.objects.count()) == (0, 0)
    assert preferences.of("42", "qqc") == preferences.NONE


def test_the_preference_reasons_are_stable_metric_labels(with_policy) -> None:
    with_policy("QUIET_HOURS_MODE=drop")
    choose("42", modes={"goods_visit": "off"})
    choose("43", modes={"goods_visit": "daily_summary"})
    choose("44", quiet_hours=(time(0), time(23, 59)))
    for owner in ("42", "43", "44"):
        service.deliver(visit(owner))
    for reason in ("preference_off", "summary_pending", "recipient_quiet_hours"):
        assert metrics.SUPPRESSED.labels(reason)._value.get() >= 1, reason
