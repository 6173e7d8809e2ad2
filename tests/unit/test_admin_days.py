"""Specifies the admin's days and the stories of held-back pushes: times in the app's zone,
today and yesterday in that zone, date ranges, the push a duplicate repeats, the cap's reset, and
the mark of a test push."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from pushworker.store.models import Delivery, DeliveryStatus
from tests.unit.test_admin import changelist, delivery, listed

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the shipped default app's TIMEZONE


@pytest.fixture(autouse=True)
def _credentials(configure):
    from tests.unit.environment import CREDENTIALS

    configure(**CREDENTIALS)


def created(row: Delivery, moment: datetime) -> Delivery:
    Delivery.objects.filter(pk=row.pk).update(created_at=moment)
    row.refresh_from_db()
    return row


@pytest.fixture
def three_days() -> dict[str, Delivery]:
    """One delivery of user 7 a day: today, yesterday and the day before, in Shanghai's days."""
    midnight = datetime.combine(timezone.now().astimezone(SHANGHAI).date(), time(), SHANGHAI)
    return {
        "today": delivery("7"),
        "yesterday": created(delivery("7"), midnight - timedelta(minutes=30)),
        "before": created(delivery("7"), midnight - timedelta(days=1, minutes=30)),
        "other user": created(delivery("8"), midnight - timedelta(minutes=30)),
    }


def test_yesterday_and_today_are_the_app_zones_days(admin_client, three_days) -> None:
    url = changelist("delivery")
    yesterday = listed(admin_client.get(url, {"owner_id": "7", "created": "yesterday"}))
    assert yesterday == {three_days["yesterday"].pk}
    assert listed(admin_client.get(url, {"created": "today"})) == {three_days["today"].pk}


def test_a_date_range_takes_whole_days_in_the_zone_both_ends_included(
    admin_client, three_days
) -> None:
    url = changelist("delivery")
    day = three_days["yesterday"].created_at.astimezone(SHANGHAI).date()
    one_day = {"created_from": day.isoformat(), "created_to": day.isoformat()}
    assert listed(admin_client.get(url, {"owner_id": "7"} | one_day)) == {
        three_days["yesterday"].pk
    }
    since = {"owner_id": "7", "created_from": (day - timedelta(days=1)).isoformat()}
    assert len(listed(admin_client.get(url, since))) == 3
    until = {"owner_id": "7", "created_to": (day - timedelta(days=1)).isoformat()}
    assert listed(admin_client.get(url, until)) == {three_days["before"].pk}


def test_a_date_that_is_not_one_is_refused_not_a_500(admin_client) -> None:
    answer = admin_client.get(changelist("delivery"), {"created_from": "yesterday"})
    assert answer.status_code == 302 and answer["Location"].endswith("?e=1")


def test_the_filter_offers_today_yesterday_windows_and_a_range(admin_client) -> None:
    text = admin_client.get(changelist("delivery"), {"created": "yesterday"}).content.decode()
    for label in ("Today", "Yesterday", "Last hour", "Last 24 hours", "Last 7 days"):
        assert f">{label}</a>" in text
    assert 'class="selected"><a href="?created=yesterday">Yesterday' in text
    assert 'id="pw-created-from"' in text and 'id="pw-created-to"' in text


def story(admin_client, row: Delivery) -> str:
    page = admin_client.get(reverse("admin:pushworker_delivery_change", args=[row.pk]))
    return page.content.decode()


def test_a_duplicates_story_links_the_push_it_repeats(admin_client) -> None:
    first = delivery("42", status=DeliveryStatus.SENT)
    again = delivery("42", status=DeliveryStatus.SUPPRESSED, error_category="duplicate")
    Delivery.objects.filter(pk=again.pk).update(
        finished_at=timezone.now(), error_reason="duplicate of a push sent within 600 s"
    )
    url = reverse("admin:pushworker_delivery_change", args=[first.pk])
    text = story(admin_client, again)
    assert (
        f'It repeats <a href="{url}" class="pw-duplicate-of">event {str(first.event_id)[:8]}'
        in (text)
    )


def test_a_capped_deliverys_story_says_when_the_cap_resets(admin_client) -> None:
    decided = datetime(2026, 12, 6, 23, 40, tzinfo=SHANGHAI)
    row = delivery("42", status=DeliveryStatus.SUPPRESSED, error_category="daily_cap")
    Delivery.objects.filter(pk=row.pk).update(finished_at=decided)
    text = story(admin_client, row)
    assert "The daily cap resets at 2026-12-07 00:00:00 CST (midnight in Asia/Shanghai)" in text


def test_a_test_push_is_marked_in_the_list_and_its_story(admin_client) -> None:
    test = delivery("42", status=DeliveryStatus.SENT, test_push=True)
    delivery("42", status=DeliveryStatus.SENT)
    text = admin_client.get(changelist("delivery")).content.decode()
    assert text.count('class="pw-test"') == 1
    assert "the delivery policy (daily cap, dedup, quiet hours) does not apply" in story(
        admin_client, test
    )
    assert listed(admin_client.get(changelist("delivery"), {"test_push__exact": "1"})) == {test.pk}
