"""Specifies the delivery list on a large table: a bounded count, choices without DISTINCT."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pushworker.store.models import Delivery, DeliveryStatus
from pushworker.web.admin import paging
from pushworker.web.admin.deliveries import DeliveryAdmin
from pushworker.web.admin.filters import ERROR_CATEGORIES
from pushworker.web.admin.paging import BoundedPaginator, shown_count
from tests.unit.environment import CREDENTIALS
from tests.unit.test_admin import delivery

pytestmark = pytest.mark.django_db

LIST = "admin:pushworker_delivery_changelist"


@pytest.fixture(autouse=True)
def _credentials(configure, settings):
    configure(**CREDENTIALS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def newest_first():
    return Delivery.objects.order_by("-created_at", "-pk")


def test_the_count_is_exact_below_the_limit_and_pages_follow_it(monkeypatch) -> None:
    monkeypatch.setattr(paging, "COUNT_LIMIT", 10)
    for n in range(5):
        delivery(owner_id=str(n))
    paginator = BoundedPaginator(newest_first(), per_page=2)
    assert paginator.count == 5 and not paginator.capped
    assert paginator.num_pages == 3
    assert shown_count(paginator.count) == "5"


def test_past_the_limit_the_count_stops_and_pages_stop_with_it(monkeypatch) -> None:
    monkeypatch.setattr(paging, "COUNT_LIMIT", 4)
    for n in range(7):
        delivery(owner_id=str(n))
    with CaptureQueriesContext(connection) as queries:
        paginator = BoundedPaginator(newest_first(), per_page=2)
        assert paginator.count == 5 and paginator.capped
    (count,) = [q["sql"] for q in queries.captured_queries]
    assert "COUNT(*)" in count and "LIMIT 5" in count  # a bounded subquery, not the whole table
    assert paginator.num_pages == 2  # the 4 counted rows, 2 a page
    assert len(paginator.page(2).object_list) == 2
    assert shown_count(paginator.count) == "4+"


def test_the_list_says_how_many_up_to_the_limit(admin_client, monkeypatch) -> None:
    monkeypatch.setattr(paging, "COUNT_LIMIT", 2)
    for n in range(3):
        delivery(owner_id=str(n))
    response = admin_client.get(reverse(LIST))
    assert response.status_code == 200
    assert b"2+ deliveries" in response.content
    assert len(response.context["cl"].result_list) == 3  # one page: it is not cut short
    monkeypatch.setattr(DeliveryAdmin, "list_per_page", 1)
    paged = admin_client.get(reverse(LIST))
    assert b"Select all 2+ deliveries" in paged.content  # the action bar's link, too
    assert paged.context["cl"].paginator.num_pages == 2
    assert admin_client.get(reverse(LIST), {"p": "2"}).status_code == 200
    one = admin_client.get(reverse(LIST), {"owner_id": "1"})
    assert b"1 delivery" in one.content


def test_no_filter_reads_its_choices_from_the_table(admin_client) -> None:
    delivery(status=DeliveryStatus.FAILED, error_category="invalid_target", error_code=20301)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(LIST))
    assert response.status_code == 200
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not [q for q in sql if "DISTINCT" in q]
    assert not [q for q in sql if "COUNT(" in q and "LIMIT" not in q]  # every count bounded
    page = response.content.decode()
    assert "?app_name__exact=qqc" in page  # the configured app
    for category in ERROR_CATEGORIES:
        assert f"?error_category__exact={category}" in page


def test_the_app_and_category_filters_keep_their_parameters(admin_client) -> None:
    failed = delivery(status=DeliveryStatus.FAILED, error_category="invalid_target")
    sent = delivery(owner_id="43", status=DeliveryStatus.SENT)
    by_category = admin_client.get(reverse(LIST), {"error_category__exact": "invalid_target"})
    assert {row.pk for row in by_category.context["cl"].result_list} == {failed.pk}
    by_app = admin_client.get(reverse(LIST), {"app_name__exact": "qqc"})
    assert {row.pk for row in by_app.context["cl"].result_list} == {failed.pk, sent.pk}
    none = admin_client.get(reverse(LIST), {"app_name__exact": "other"})
    assert list(none.context["cl"].result_list) == []


def test_search_reads_indexes_only_even_for_a_hex_looking_term(admin_client) -> None:
    mine = delivery(owner_id="1042")
    other = delivery(owner_id="77")
    with CaptureQueriesContext(connection) as queries:
        found = admin_client.get(reverse(LIST), {"q": "1042"})
    assert {row.pk for row in found.context["cl"].result_list} == {mine.pk}
    assert not [q for q in queries.captured_queries if "LIKE" in q["sql"].upper()]
    prefix = str(other.event_id)[:13]  # with its hyphen, as copied from a page
    by_prefix = admin_client.get(reverse(LIST), {"q": prefix})
    assert {row.pk for row in by_prefix.context["cl"].result_list} == {other.pk}
