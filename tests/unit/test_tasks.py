"""Specifies pushworker.tasks: thin tasks that check arguments, call the service and republish."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from pushworker import tasks
from pushworker.events import InvalidEventError
from pushworker.producer import enqueue
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from tests.unit.environment import CREDENTIALS

pytestmark = pytest.mark.django_db

EVENT = {"owner_id": "42", "visitor_id": "7", "goods_id": "1001", "goods_name": "二手自行车"}


class Recorder:
    """Stands in for ``send_goods_visit`` where the relay and the sweeper publish with it."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def apply_async(self, **options) -> None:
        self.published.append(options)


@pytest.fixture
def republished(monkeypatch, configure) -> Recorder:
    configure(**CREDENTIALS)
    recorder = Recorder()
    monkeypatch.setitem(tasks.TASKS, "goods_visit", recorder)
    return recorder


def test_a_valid_message_is_delivered_by_the_service(emulator) -> None:
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    event_id = str(uuid.uuid4())
    result = tasks.send_goods_visit.apply(kwargs=EVENT, task_id=event_id)
    assert result.get() == DeliveryStatus.SENT
    assert Delivery.objects.get(event_id=event_id).status == DeliveryStatus.SENT
    assert len(emulator.messages()) == 1


def test_the_task_id_is_the_event_id_when_the_message_carries_none(emulator) -> None:
    task_id = str(uuid.uuid4())
    tasks.send_goods_visit.apply(kwargs=EVENT, task_id=task_id)
    assert Delivery.objects.get(event_id=task_id).status == DeliveryStatus.FAILED  # no device


def test_a_message_with_unusable_arguments_is_recorded_failed_not_retried(emulator) -> None:
    task_id = str(uuid.uuid4())
    result = tasks.send_goods_visit.apply(kwargs=EVENT | {"owner_id": None}, task_id=task_id)
    assert result.state == "FAILURE" and isinstance(result.result, tasks.DeliveryFailed)
    row = Delivery.objects.get(event_id=task_id)
    assert row.error_category == "bad_request" and "owner_id" in row.error_reason
    assert emulator.requests() == []


def test_a_rejected_message_keeps_the_visitor_name_it_carried(emulator) -> None:
    task_id = str(uuid.uuid4())
    kwargs = EVENT | {"owner_id": None, "visitor_name": "小明\x00"}
    tasks.send_goods_visit.apply(kwargs=kwargs, task_id=task_id)
    assert Delivery.objects.get(event_id=task_id).payload["visitor_name"] == "小明"


def test_a_message_with_an_unknown_argument_is_recorded_failed_naming_it(emulator) -> None:
    task_id = str(uuid.uuid4())
    result = tasks.send_goods_visit.apply(kwargs=EVENT | {"colour": "red"}, task_id=task_id)
    assert result.state == "FAILURE" and isinstance(result.result, tasks.DeliveryFailed)
    row = Delivery.objects.get(event_id=task_id)
    assert row.error_category == "bad_request" and "colour" in row.error_reason


def test_a_malformed_copy_of_a_sent_event_keeps_and_shows_its_status(emulator) -> None:
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    task_id = str(uuid.uuid4())
    assert tasks.send_goods_visit.apply(kwargs=EVENT, task_id=task_id).get() == "sent"
    copy = tasks.send_goods_visit.apply(kwargs=EVENT | {"colour": "red"}, task_id=task_id)
    assert copy.state == "SUCCESS" and copy.result == "sent"
    assert Delivery.objects.get(event_id=task_id).status == "sent"


def test_an_unknown_http_method_is_counted_as_other() -> None:
    from pushworker.ops import metrics

    metrics.api_answered("BREW", 405)
    assert metrics.API_REQUESTS.labels("other", "405")._value.get() >= 1


def test_delay_refuses_an_unknown_argument_as_an_invalid_event(configure) -> None:
    configure(**CREDENTIALS)
    with pytest.raises(InvalidEventError, match="colour"):
        tasks.send_goods_visit.delay(**EVENT, colour="red")


def test_delay_refuses_bad_arguments_at_the_call_site(configure, monkeypatch) -> None:
    configure(**CREDENTIALS)
    monkeypatch.setattr(enqueue, "publish", lambda *a, **k: pytest.fail("published"))
    with pytest.raises(InvalidEventError, match="goods_name"):
        tasks.send_goods_visit.delay(**EVENT | {"goods_name": ""})
    assert Delivery.objects.count() == 0


def test_delay_returns_the_event_id_as_the_task_id(configure, monkeypatch) -> None:
    configure(**CREDENTIALS)
    monkeypatch.setattr(enqueue, "publish", lambda task, event, budget=None: True)
    result = tasks.send_goods_visit.delay(**EVENT)
    assert Delivery.objects.get(event_id=result.id).published_at is not None


def queued(**fields) -> Delivery:
    row = Delivery.objects.create(
        kind="goods_visit",
        app_name="qqc",
        recipient_id="42",
        subject_id="1001",
        payload={"visitor_id": "7", "goods_id": "1001", "goods_name": "车", "visitor_name": "小明"},
    )
    # As written: due from when it was written, were it left to a drain.
    fields.setdefault("next_attempt_at", fields.get("created_at", timezone.now()))
    Delivery.objects.filter(pk=row.pk).update(**fields)
    return row


@pytest.fixture
def kicks(monkeypatch) -> list[str]:
    """The batch runs asked for (``backlog.kick``), instead of messages on a broker."""
    asked: list[str] = []
    monkeypatch.setattr(tasks.backlog, "kick", lambda app: asked.append("drain"))
    return asked


def test_the_relay_publishes_a_few_old_unpublished_rows_by_event_id_and_marks_them(
    republished, kicks
) -> None:
    a_while_ago = timezone.now() - timedelta(seconds=30)
    row = queued(published_at=None, created_at=a_while_ago)  # the broker was down
    queued(published_at=timezone.now(), created_at=a_while_ago)  # its message is on the broker
    queued(published_at=None)  # just written: the batch run the web path asked for takes it
    assert tasks.relay_outbox() == 1 and kicks == []
    [options] = republished.published
    assert options["task_id"] == str(row.event_id)
    assert options["kwargs"] == {
        "event_id": str(row.event_id),
        "owner_id": "42",
        "visitor_id": "7",
        "goods_id": "1001",
        "goods_name": "车",
        "visitor_name": "小明",
        "app_name": "qqc",
    }
    row.refresh_from_db()
    assert row.published_at is not None
    assert tasks.relay_outbox() == 0


def test_the_relay_leaves_a_backlog_of_old_unpublished_rows_to_a_batch_run(
    republished, kicks, configure
) -> None:
    configure(**CREDENTIALS, PUSHWORKER_BACKLOG_THRESHOLD="3")
    a_while_ago = timezone.now() - timedelta(seconds=30)
    for _ in range(3):
        queued(published_at=None, created_at=a_while_ago)
    assert tasks.relay_outbox() == 3 and kicks == ["drain"]
    assert republished.published == []  # rows, not messages: the batch run claims them


def test_the_sweeper_republishes_stuck_deliveries_once_per_staleness_period(republished) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    lost = queued(published_at=long_ago)
    queued(status=DeliveryStatus.SENT, published_at=long_ago)
    assert tasks.sweep_stuck() == 1
    assert [o["task_id"] for o in republished.published] == [str(lost.event_id)]
    assert tasks.sweep_stuck() == 0


def test_the_relay_leaves_a_row_of_an_unknown_kind_and_publishes_the_others(republished) -> None:
    a_while_ago = timezone.now() - timedelta(seconds=30)
    stranger = queued(published_at=None, kind="no_such_kind", created_at=a_while_ago)
    row = queued(published_at=None, created_at=a_while_ago)
    assert tasks.relay_outbox() == 2
    assert [options["task_id"] for options in republished.published] == [str(row.event_id)]
    stranger.refresh_from_db()
    assert stranger.published_at is None
