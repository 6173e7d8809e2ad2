"""Specifies ops.metrics' labels: closed lists, decided in one place from the recorded category."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from pushworker.mipush.codes import Category
from pushworker.ops import metrics
from pushworker.web.admin.filters import ERROR_CATEGORIES

# Every error_category a delivery is ever written with (the admin's filter lists them all).
RECORDED = (*ERROR_CATEGORIES, "")


@pytest.mark.parametrize(
    ("status", "category", "reason"),
    [
        ("failed", "no_device", "no_device"),
        ("failed", "quota", "quota"),
        ("failed", "invalid_target", "invalid_target"),
        ("failed", "bad_request", "bad_request"),
        ("failed", "configuration", "config"),
        ("dead", "poison", "crashes"),
        ("dead", "transient", "retries_exhausted"),
        ("dead", "throttled", "retries_exhausted"),
        ("dead", "quota", "retries_exhausted"),  # a shipped order waited for the quota in vain
        ("failed", "expired", "expired"),
        ("dead", "expired", "expired"),
        ("sent", "", ""),
        ("partial", "invalid_target", ""),
        ("suppressed", "daily_cap", ""),
    ],
)
def test_a_failed_or_dead_delivery_is_labelled_why_it_stopped(status, category, reason) -> None:
    assert metrics.failure_reason(status, category) == reason


@pytest.mark.parametrize("category", RECORDED)
@pytest.mark.parametrize("status", ["failed", "dead"])
def test_every_recorded_category_has_a_reason_from_the_closed_list(status, category) -> None:
    assert metrics.failure_reason(status, category) in metrics.FAILURE_REASONS


@pytest.mark.parametrize(
    ("category", "detail", "name"),
    [
        ("duplicate", "duplicate of a push sent within 600 s", "duplicate"),
        ("daily_cap", "daily cap of 5 pushes reached", "daily_cap"),
        ("quiet_hours", "quiet hours until 08:00", "quiet_hours"),
        ("suppressed", "owner viewed own goods", "owner_viewed_own_goods"),
        ("suppressed", "user 4242 blocked the shop", "other"),  # never an id in a label
        ("something_new", "", "other"),
    ],
)
def test_suppressions_are_stable_names_the_detail_stays_out(category, detail, name) -> None:
    assert metrics.suppressed_reason(category, detail) == name


def test_a_suppressed_delivery_is_counted_by_its_stable_name() -> None:
    def count(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    row = SimpleNamespace(app_name="qqc-metrics", error_reason="daily cap of 5 pushes reached")
    before = count("pushworker_suppressed_total", reason="daily_cap")
    metrics.delivery_finished(row, "suppressed", "daily_cap")
    assert count("pushworker_suppressed_total", reason="daily_cap") == before + 1
    # An app the settings do not name is labelled "unknown" (labels only from configuration).
    deliveries = {"app": "unknown", "status": "suppressed", "reason": ""}
    assert count("pushworker_deliveries_total", **deliveries) >= 1


@pytest.mark.parametrize(
    ("code", "labels"),
    [
        (0, ("0", "accepted")),
        (10002, ("10002", "transient")),
        (21301, ("21301", "configuration")),
        (987654, ("other", "bad_request")),  # unknown codes: as the client files them
        (Category.TRANSIENT, ("transient", "transient")),  # a refused connection: no code
        ("throttled", ("throttled", "throttled")),
        ("made-up", ("other", "bad_request")),
    ],
)
def test_a_request_is_labelled_by_code_and_category(code, labels) -> None:
    assert metrics.request_category(code) == labels


def test_enqueue_to_sent_is_measured_finely_from_one_second_to_ten_minutes() -> None:
    buckets = [b for b in metrics.ENQUEUE_TO_SENT_SECONDS if 1 <= b <= 600]
    assert all(high / low <= 2 for low, high in zip(buckets, buckets[1:], strict=False))
