"""Specifies store.purge: what is past retention goes in batches; nothing else is touched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pushworker.conf.retention import Retention, RetentionSettings
from pushworker.delivery import service
from pushworker.events import GoodsVisit
from pushworker.events.order_shipped import OrderShipped
from pushworker.store import deliveries, purge
from pushworker.store.models import (
    DailyAggregate,
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)
from tests.support import rows

pytestmark = pytest.mark.django_db

RULES = RetentionSettings(default=Retention(days=30, dead_letter_days=90))


def delivery(
    status: str, age_days: float | None, *, app: str = "qqc", event=None, **fields
) -> Delivery:
    """A delivery in ``status`` that finished ``age_days`` ago (None: not finished); a goods
    visit unless ``event`` is given."""
    event = event or GoodsVisit.from_call(
        owner_id="42", visitor_id="7", goods_id="1", goods_name="碗"
    )
    made = deliveries.ensure(event, app)
    finished = None if age_days is None else timezone.now() - timedelta(days=age_days)
    Delivery.objects.filter(pk=made.pk).update(status=status, finished_at=finished, **fields)
    made.refresh_from_db()
    return made


def attempt(row: Delivery, platform: str = "android") -> None:
    rows.attempt(
        row,
        key=f"{platform}/x",
        platform=platform,
        environment="production",
        target_type="alias",
        targets="QQC_42",
    )


def remaining() -> set[int]:
    return set(Delivery.objects.values_list("pk", flat=True))


def test_a_finished_delivery_older_than_retention_goes_with_its_attempts() -> None:
    old = delivery(DeliveryStatus.SENT, 31)
    attempt(old)
    young = delivery(DeliveryStatus.SENT, 29)
    report = purge.purge(rules=RULES)
    assert remaining() == {young.pk}
    assert (report.deliveries, report.attempts) == (1, 1)
    assert not DeliveryAttempt.objects.filter(delivery_id=old.pk).exists()


@pytest.mark.parametrize("status", ["queued", "sending", "retrying"])
def test_an_unfinished_delivery_is_never_purged_whatever_its_age(status: str) -> None:
    old = delivery(status, None)
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    stale_with_a_finish_time = delivery(status, 400)  # e.g. requeued by hand after it finished
    purge.purge(rules=RULES, older_than=timedelta(days=2))
    assert remaining() == {old.pk, stale_with_a_finish_time.pk}


def test_dead_deliveries_and_dead_letters_keep_their_longer_retention() -> None:
    dead_kept = delivery(DeliveryStatus.DEAD, 60)
    dead_gone = delivery(DeliveryStatus.DEAD, 91)
    DeadLetter.objects.create(reason="kept")
    gone = DeadLetter.objects.create(reason="gone")
    DeadLetter.objects.filter(pk=gone.pk).update(received_at=timezone.now() - timedelta(days=91))
    report = purge.purge(rules=RULES)
    assert remaining() == {dead_kept.pk}
    assert dead_gone.pk not in remaining()
    assert list(DeadLetter.objects.values_list("reason", flat=True)) == ["kept"]
    assert report.dead_letters == 1


def test_an_app_can_keep_its_deliveries_for_a_shorter_time() -> None:
    rules = RetentionSettings(default=RULES.default, apps={"shop": Retention(days=7)})
    shop = delivery(DeliveryStatus.SENT, 8, app="shop")
    qqc = delivery(DeliveryStatus.SENT, 8)
    purge.purge(rules=rules)
    assert remaining() == {qqc.pk}
    assert shop.pk not in remaining()


def test_the_daily_aggregate_survives_the_purge_and_counts_per_platform_status_and_code() -> None:
    both = delivery(DeliveryStatus.SENT, 40)
    attempt(both, "android")
    attempt(both, "ios")
    failed = delivery(DeliveryStatus.FAILED, 40, error_code=20301)
    attempt(failed, "ios")
    delivery(DeliveryStatus.SUPPRESSED, 40)
    purge.purge(rules=RULES, batch_size=2)  # two batches add to the same rows
    day = both.finished_at.date()
    counts = {
        (a.platform, a.status, a.code): a.count for a in DailyAggregate.objects.filter(day=day)
    }
    assert counts == {
        ("android", "sent", 0): 1,
        ("ios", "sent", 0): 1,
        ("ios", "failed", 20301): 1,
        ("", "suppressed", 0): 1,
    }
    assert not Delivery.objects.exists()
    delivery(DeliveryStatus.SENT, 40)  # a later purge adds to the same day
    purge.purge(rules=RULES)
    assert DailyAggregate.objects.get(day=day, platform="", status="sent").count == 1
    assert DailyAggregate.objects.get(day=day, platform="android", status="sent").count == 1


def test_every_kind_is_purged_and_counted_from_the_generic_row() -> None:
    shipped = OrderShipped.from_call(buyer_id="42", order_id="o-9", goods_name="碗", carrier="顺丰")
    order = delivery(DeliveryStatus.SENT, 40, event=shipped)
    assert (order.kind, order.recipient_id, order.subject_id) == ("order_shipped", "42", "o-9")
    attempt(order, "ios")
    visit = delivery(DeliveryStatus.FAILED, 40, error_code=20301)
    attempt(visit, "android")
    report = purge.purge(rules=RULES)
    assert (report.deliveries, report.attempts, report.aggregated) == (2, 2, 2)
    assert not Delivery.objects.exists() and not DeliveryAttempt.objects.exists()
    counts = {
        (a.app_name, a.platform, a.status, a.code): a.count for a in DailyAggregate.objects.all()
    }
    assert counts == {("qqc", "ios", "sent", 0): 1, ("qqc", "android", "failed", 20301): 1}


def test_no_aggregate_is_kept_when_the_app_does_not_want_one() -> None:
    delivery(DeliveryStatus.SENT, 40)
    purge.purge(rules=RetentionSettings(default=Retention(keep_daily_aggregate=False)))
    assert not Delivery.objects.exists() and not DailyAggregate.objects.exists()


def test_a_dry_run_counts_and_changes_nothing() -> None:
    old = delivery(DeliveryStatus.SENT, 31)
    attempt(old)
    delivery(DeliveryStatus.SENT, 1)
    before = list(Delivery.objects.order_by("pk").values())
    report = purge.purge(rules=RULES, dry_run=True)
    assert (report.dry_run, report.deliveries, report.attempts) == (True, 1, 1)
    assert list(Delivery.objects.order_by("pk").values()) == before
    assert DeliveryAttempt.objects.count() == 1 and not DailyAggregate.objects.exists()
    assert "would delete 1 deliveries" in report.summary()


def test_batches_are_bounded_and_a_stopped_purge_resumes_at_the_oldest_row() -> None:
    rows = [delivery(DeliveryStatus.SENT, 40 + n) for n in range(5)]
    first = purge.purge(rules=RULES, batch_size=2, max_seconds=0)
    assert (first.deliveries, first.complete) == (0, False)
    second = purge.purge(rules=RULES, batch_size=2)
    assert (second.deliveries, second.batches, second.complete) == (5, 3, True)
    assert not remaining() & {r.pk for r in rows}


def test_older_than_must_exceed_the_redelivery_horizon(configure) -> None:
    configure()
    with pytest.raises(purge.retention_settings.RetentionError, match="redelivery horizon"):
        purge.purge(rules=RULES, older_than=timedelta(seconds=60))


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("7", 7 * 86400)]
)
def test_ages_are_read_in_days_hours_minutes_or_seconds(text: str, seconds: int) -> None:
    assert purge.parse_age(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0d", "-1d", "thirty", "1.5d"])
def test_a_bad_age_is_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError, match="--older-than"):
        purge.parse_age(text)


def test_a_retried_message_whose_row_was_purged_sends_nothing(emulator) -> None:
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    event = GoodsVisit.from_call(owner_id="42", visitor_id="7", goods_id="1", goods_name="碗")
    assert deliveries.get(event.event_id) is None
    assert service.deliver(event, retried=True) == service.Outcome("purged")
    assert emulator.requests() == [] and not Delivery.objects.exists()


def test_a_retried_message_whose_row_exists_is_delivered_as_usual(emulator) -> None:
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    event = GoodsVisit.from_call(owner_id="42", visitor_id="7", goods_id="1", goods_name="碗")
    deliveries.ensure(event, "qqc")
    assert service.deliver(event, retried=True) == service.Outcome(DeliveryStatus.SENT)
    assert len(emulator.messages()) == 1


def test_the_hourly_beat_task_purges_on_the_maintenance_queue(configure) -> None:
    from celery import Celery

    from pushworker import conf
    from pushworker.broker import install as integration
    from pushworker.broker import queues
    from pushworker.tasks import purge_expired

    configure()
    entry = integration.beat_entries(conf.get())["pushworker.purge_expired"]
    assert (entry["task"], entry["schedule"]) == ("pushworker.purge_expired", 3600.0)
    assert queues.ROUTES[entry["task"]]["queue"] == queues.MAINTENANCE_QUEUE
    # The send's options (late ack, a time limit of one send's lease) are not forced on it: only
    # its own limits, so a host's global soft limit never applies to it.
    app = integration.install(Celery("purge-test", broker="memory://", set_as_current=False))
    [annotations, *_] = app.conf.task_annotations
    assert annotations["pushworker.purge_expired"] == {"time_limit": 360, "soft_time_limit": 360}
    assert purge_expired.acks_late is False and purge_expired.time_limit > 300
    delivery(DeliveryStatus.SENT, 31)
    kept = delivery(DeliveryStatus.RETRYING, None)
    assert purge_expired() == 1
    assert remaining() == {kept.pk}


def test_the_purge_command_reports_and_its_dry_run_keeps_everything(configure, capsys) -> None:
    from pushworker import cli

    configure()
    delivery(DeliveryStatus.SENT, 31)
    assert cli.main(["purge", "--dry-run"]) == 0
    assert "would delete 1 deliveries" in capsys.readouterr().out
    assert Delivery.objects.count() == 1
    assert cli.main(["purge", "--batch-size", "10"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 deliveries" in out and "default:finished: 1" in out
    assert not Delivery.objects.exists()
    assert cli.main(["purge", "--older-than", "soon"]) == 2
    assert "--older-than" in capsys.readouterr().err
