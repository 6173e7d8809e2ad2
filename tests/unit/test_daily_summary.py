"""The daily-summary kind (events/daily_summary.py): its event id, arguments, text, deep link, and
when a recipient's summary is due. Pure: no database."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from pushworker.conf.policy import Policy
from pushworker.events import InvalidEventError, registry
from pushworker.events.daily_summary import DailySummary, due, event_id_of, next_due, slot_key
from pushworker.events.notification import DESCRIPTION_MAX_UNITS, utf16_units

SHANGHAI, BERLIN = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin")
FIVE_MINUTES = timedelta(minutes=5)
VISITS = {"goods_visit": {"events": 31, "subjects": 5, "people": 23}}


def summary(**changes) -> DailySummary:
    return DailySummary.from_call(
        **{"user_id": "42", "day": "2026-12-01", "counts": VISITS, "app_name": "qqc"} | changes
    )


def settings(link: str = "shop://summary?day={day}") -> SimpleNamespace:
    app = SimpleNamespace(policy=Policy(summary_link=link))
    return SimpleNamespace(app=lambda name: app)


def test_one_event_id_per_app_recipient_and_local_date() -> None:
    first = event_id_of("qqc", "42", date(2026, 12, 1))
    assert first == event_id_of("qqc", "42", "2026-12-01")  # the scheduler running twice
    others = {event_id_of("qqc", "42", "2026-12-02"), event_id_of("qqc", "43", "2026-12-01")}
    assert first not in others and len(others | {event_id_of("other", "42", "2026-12-01")}) == 3


def test_the_notification_says_how_many_people_viewed_how_many_goods_with_a_deep_link() -> None:
    note = summary().notification(settings())
    assert (note.title, note.description) == ("今日消息汇总", "今天有 23 位用户浏览了您的 5 件商品")
    assert note.extra == {"type": "4", "day": "2026-12-01", "link": "shop://summary?day=2026-12-01"}


def test_several_kinds_are_one_line_and_it_fits_xiaomis_limit() -> None:
    counts = VISITS | {"order_shipped": {"events": 2, "subjects": 2, "people": 2}}
    assert summary(counts=counts).description() == (
        "今天有 23 位用户浏览了您的 5 件商品，2 个订单已发货"
    )
    huge = {"goods_visit": {"events": 10**9, "subjects": 10**9, "people": 10**9}}
    assert utf16_units(summary(counts=huge).description()) <= DESCRIPTION_MAX_UNITS


@pytest.mark.parametrize(
    ("changes", "argument"),
    [
        ({"day": "2026-13-01"}, "day"),
        ({"day": "yesterday"}, "day"),
        ({"counts": {}}, "counts"),
        ({"counts": "not json"}, "counts"),
        ({"counts": {"goods_visit": {"events": 1}}}, r"counts\["),
        ({"counts": {"goods_visit": {"events": -1, "subjects": 1, "people": 1}}}, "counts"),
        ({"counts": {"Goods Visit": VISITS["goods_visit"]}}, "counts"),
        ({"user_id": ""}, "user_id"),
    ],
)
def test_bad_arguments_are_named(changes, argument) -> None:
    with pytest.raises(InvalidEventError, match=rf"^send_daily_summary: {argument}"):
        summary(**changes)


def test_the_command_lines_json_counts_are_accepted() -> None:
    assert summary(counts='{"goods_visit": {"events": 1, "subjects": 1, "people": 1}}').counts == {
        "goods_visit": {"events": 1, "subjects": 1, "people": 1}
    }


def test_recipients_never_choose_about_the_summary_itself() -> None:
    assert not registry.get("daily_summary").policy.chosen_by_recipient
    assert registry.get("goods_visit").policy.chosen_by_recipient


def test_a_popular_hours_summaries_are_spread_over_it_in_slots_of_the_interval() -> None:
    day = date(2026, 12, 1)
    moments = [
        due(day, 20, SHANGHAI, None, FIVE_MINUTES, slot_key("qqc", str(n))) for n in range(6000)
    ]
    assert {m.hour for m in moments} == {20}
    slots = Counter(m.minute for m in moments)
    assert sorted(slots) == list(range(0, 60, 5))  # twelve slots of five minutes
    assert max(slots.values()) < 1.2 * 6000 / 12  # about a twelfth each


def test_a_summary_never_rings_inside_the_recipients_quiet_hours() -> None:
    day = date(2026, 12, 1)
    keys = [slot_key("qqc", str(n)) for n in range(500)]
    # Quiet from 20:30: the summaries of 20:00 fit in the half hour before.
    half = [due(day, 20, BERLIN, (time(20, 30), time(7)), FIVE_MINUTES, k) for k in keys]
    assert all(m.hour == 20 and m.minute < 30 for m in half)
    # The whole hour quiet: they come in the hour after the quiet hours end, the next morning.
    moved = [due(day, 23, BERLIN, (time(22), time(7)), FIVE_MINUTES, k) for k in keys]
    assert all(m.date() == date(2026, 12, 2) and m.hour == 7 for m in moved)


def test_the_next_summary_is_never_a_second_one_of_a_day_already_summarized() -> None:
    key = slot_key("qqc", "42")
    morning = datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)
    day, moment = next_due(morning, 20, SHANGHAI, None, FIVE_MINUTES, key)
    assert day == date(2026, 12, 1) and moment.hour == 20
    day, moment = next_due(morning, 20, SHANGHAI, None, FIVE_MINUTES, key, after=day)
    assert day == date(2026, 12, 2) and moment.date() == date(2026, 12, 2)
    evening = datetime(2026, 12, 1, 21, tzinfo=SHANGHAI)  # past today's hour: tomorrow's
    assert next_due(evening, 20, SHANGHAI, None, FIVE_MINUTES, key)[0] == date(2026, 12, 2)


def test_the_hour_is_the_recipients_local_hour() -> None:
    moment = due(date(2026, 7, 1), 8, BERLIN, None, FIVE_MINUTES, slot_key("qqc", "42"))
    assert moment.astimezone(BERLIN).hour == 8
    assert moment.astimezone(SHANGHAI).hour == 14  # summer time in Berlin
