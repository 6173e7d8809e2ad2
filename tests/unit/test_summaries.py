"""The daily summaries (store/summaries.py, delivery/summaries.py): made once per recipient and
local day at their hour, from the rows their preferences held back, and sent by drains in
multi_messages groups on the real emulator."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from pushworker import conf
from pushworker.delivery import service, summaries
from pushworker.events import GoodsVisit
from pushworker.events.daily_summary import event_id_of
from pushworker.store import preferences
from pushworker.store import summaries as store_summaries
from pushworker.store.models import Delivery, PushDevice, Recipient
from pushworker.store.preferences import Choices
from tests.unit.environment import emulator_env

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
SUMMARIZED = {"goods_visit": "daily_summary"}


@pytest.fixture
def emulator(fresh_emulator, configure):
    """Sending to the emulator with the shipped policy (the summaries are the subject)."""
    configure(**emulator_env(fresh_emulator, PUSHWORKER_POLICY="", PUSHWORKER_BATCH_SIZE="100"))
    return fresh_emulator


def choose(user: str, **choices) -> Recipient:
    PushDevice.objects.get_or_create(user_id=user, app_name="qqc", os_type="android")
    settings = conf.get()
    preferences.save(user, settings.app("qqc"), Choices(**choices), slot=settings.summary_slot)
    return Recipient.objects.get(user_id=user)


def visit(owner: str, visitor: str | None, goods: str = "1001") -> GoodsVisit:
    event = GoodsVisit.from_call(owner, visitor, goods, "二手自行车")
    service.deliver(event)
    return event


@pytest.fixture(autouse=True)
def _settled(monkeypatch):
    """Rows ended before a summary is made count in it at once (in production, those of the last
    few seconds wait for the next summary, in case they are not committed yet)."""
    monkeypatch.setattr(store_summaries, "SETTLE", timedelta(0))


def due_now() -> None:
    """The recipients' summaries come due (their hour has come), each for the day it was of."""
    Recipient.objects.update(summary_due_at=timezone.now())


def make() -> summaries.Report:
    return summaries.run(conf.get(), budget=30)


def drain() -> dict[str, int]:
    settings, counts, n = conf.get(), {}, 0
    while (claimed := service.claim(f"drain-{n}", settings)).rows:
        for status, count in service.drain(claimed, settings).counts.items():
            counts[status] = counts.get(status, 0) + count
        n += 1
    return counts


def test_a_recipient_who_summarizes_gets_no_instant_push_and_one_summary_at_their_hour(
    emulator,
) -> None:
    recipient = choose("42", time_zone="Europe/Berlin", summary_hour=8, modes=SUMMARIZED)
    due = recipient.summary_due_at.astimezone(BERLIN)
    assert due.hour == 8 and recipient.summary_day == due.date()  # their hour, their zone
    for visitor in ("7", "8", "7", None, None):  # two anonymous visitors count as two people
        visit("42", visitor)
    visit("42", "9", goods="1002")
    assert emulator.messages() == []  # no instant push
    due_now()
    report = make()
    assert (report.recipients, report.created) == (1, 1)
    assert drain() == {"sent": 1}
    [message] = emulator.messages()
    assert message["targets"] == ["QQC_42"]
    assert message["fields"]["description"] == "今天有 5 位用户浏览了您的 2 件商品"
    assert message["fields"]["extra.day"] == due.date().isoformat()
    assert message["fields"]["extra.link"] == f"app://daily-summary?day={due.date()}"
    row = Delivery.objects.get(kind="daily_summary")
    assert str(row.event_id) == event_id_of("qqc", "42", due.date())
    moved = Recipient.objects.get()
    assert moved.summary_day == due.date() + timedelta(days=1)
    assert moved.summary_due_at.astimezone(BERLIN).hour == 8  # the same hour tomorrow


def test_running_again_makes_no_second_summary_of_the_day(emulator) -> None:
    recipient = choose("42", modes=SUMMARIZED)
    visit("42", "7")
    due_now()
    assert make().created == 1
    assert make().created == 0  # nothing is due any more
    # Due again for the same day, as if the scheduler had died before moving it on (its
    # transaction makes that impossible; the event id would still refuse a second row).
    Recipient.objects.update(summary_day=recipient.summary_day)
    due_now()
    visit("42", "8")
    assert make().created == 0
    assert Delivery.objects.filter(kind="daily_summary").count() == 1


def test_the_next_summary_counts_only_what_was_held_since_the_last(emulator) -> None:
    choose("42", modes=SUMMARIZED)
    visit("42", "7")
    due_now()
    make()
    for visitor in ("1", "2", "3"):
        visit("42", visitor)
    due_now()  # the next day's hour
    assert make().created == 1
    drain()
    texts = [m["fields"]["description"] for m in emulator.messages()]
    assert texts == ["今天有 1 位用户浏览了您的 1 件商品", "今天有 3 位用户浏览了您的 1 件商品"]


def test_a_day_with_nothing_held_sends_nothing_and_moves_on(emulator) -> None:
    recipient = choose("42", modes=SUMMARIZED)
    due_now()
    report = make()
    assert (report.recipients, report.created) == (1, 0)
    assert Recipient.objects.get().summary_day == recipient.summary_day + timedelta(days=1)


def test_recipients_who_stopped_summarizing_are_not_scheduled(emulator) -> None:
    recipient = choose("42", modes=SUMMARIZED, quiet_hours=(time(22), time(7)))
    assert recipient.summary_due_at is not None
    stopped = choose("42", modes={"goods_visit": "off"}, quiet_hours=(time(22), time(7)))
    assert stopped.summary_due_at is None and stopped.summary_day is None


def test_three_hundred_summaries_due_together_go_out_in_multi_messages_requests(
    emulator,
) -> None:
    for n in range(300):
        choose(f"u{n}", modes=SUMMARIZED)
        visit(f"u{n}", "7")
    due_now()
    report = make()
    assert (report.recipients, report.created) == (300, 300)
    assert drain() == {"sent": 300}
    assert len(emulator.messages()) == 300
    assert emulator.stats()["requests"] == 3  # BATCH_SIZE 100: 0.01 requests per summary


def test_a_run_stops_at_its_budget_and_says_more_are_due(emulator, monkeypatch) -> None:
    monkeypatch.setattr(summaries, "CHUNK", 2)
    for n in range(5):
        choose(f"u{n}", modes=SUMMARIZED)
        visit(f"u{n}", "7")
    due_now()
    first = summaries.run(conf.get(), budget=0)
    assert (first.recipients, first.created, first.more) == (2, 2, True)
    rest = summaries.run(conf.get(), budget=30)
    assert (rest.recipients, rest.created, rest.more) == (3, 3, False)


def test_the_task_makes_the_due_summaries_and_asks_a_drain(emulator, monkeypatch) -> None:
    from pushworker import tasks

    kicked = []
    monkeypatch.setattr(tasks.backlog, "kick", lambda app: kicked.append(app))
    choose("42", modes=SUMMARIZED)
    visit("42", "7")
    due_now()
    assert tasks.send_daily_summaries.apply().get() == 1
    assert len(kicked) == 1
    assert Delivery.objects.get(kind="daily_summary").published_at is None  # a drain's row
