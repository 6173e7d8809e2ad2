"""The purge beside real workers: two purges and a worker lose nothing and send nothing twice."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest

from tests.integration.test_pipeline import add_device, finished, visit
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

OLD_ROWS = 1500


def fill_expired(count: int) -> None:
    """``count`` deliveries sent 40 days ago, one attempt each (far past the 30-day default)."""
    from django.utils import timezone

    from pushworker.store.models import Delivery, DeliveryAttempt

    long_ago = timezone.now() - timedelta(days=40)
    rows = Delivery.objects.bulk_create(
        Delivery(
            kind="goods_visit",
            app_name="qqc",
            recipient_id=f"old-{n}",
            subject_id="g",
            payload={"visitor_id": "v", "goods_id": "g", "goods_name": "旧", "visitor_name": None},
            status="sent",
            finished_at=long_ago,
        )
        for n in range(count)
    )
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery=row,
            group_key="android/production/alias:x",
            platform="android",
            environment="production",
            target_type="alias",
            targets="x",
            status="sent",
        )
        for row in rows
    )


def purge_process(stack) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pushworker.cli", "purge", "--batch-size", "40"],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_purges_beside_a_worker_lose_nothing_and_send_nothing_twice(clean_stack):
    from pushworker.events import notification as content
    from pushworker.store.models import DailyAggregate, Delivery, DeliveryAttempt

    DailyAggregate.objects.all().delete()
    owners = [str(600 + n) for n in range(10)]
    for owner in owners:
        add_device(owner, "android")
    fill_expired(OLD_ROWS)
    clean_stack.worker()

    purges = [purge_process(clean_stack), purge_process(clean_stack)]
    events = [visit(owners[n % len(owners)]) for n in range(60)]
    outputs = [p.communicate(timeout=300)[0] for p in purges]
    assert [p.returncode for p in purges] == [0, 0], outputs
    for event_id in events:
        assert finished(event_id, timeout=120).status == "sent"

    # Nothing lost: every new event kept its row and attempt; every expired row is gone.
    assert Delivery.objects.filter(event_id__in=events).count() == len(events)
    assert DeliveryAttempt.objects.filter(delivery__event_id__in=events).count() == len(events)
    assert not Delivery.objects.filter(recipient_id__startswith="old-").exists()
    assert DeliveryAttempt.objects.count() == len(events)
    # Nothing twice: one request per event, and no expired row counted by both purges.
    notify_ids = [m["fields"]["notify_id"] for m in clean_stack.emulator.messages()]
    assert sorted(notify_ids) == sorted(str(content.notify_id(e)) for e in events)
    deleted = [int(out.split("deleted ")[1].split(" ")[0]) for out in outputs]
    assert sum(deleted) == OLD_ROWS, outputs
    assert sum(DailyAggregate.objects.values_list("count", flat=True)) == OLD_ROWS


def test_a_retried_message_whose_row_was_purged_is_not_sent_again(clean_stack):
    from pushworker.events import GoodsVisit
    from pushworker.store.models import Delivery
    from pushworker.tasks import send_goods_visit

    add_device("700", "android")
    worker = clean_stack.worker()
    # The broker's retry of an event whose finished row the purge already deleted.
    event = GoodsVisit.from_call(
        owner_id="700", visitor_id="v", goods_id="g", goods_name="碗", event_id=str(uuid.uuid4())
    )
    send_goods_visit.apply_async(kwargs=event.as_kwargs(), task_id=event.event_id, retries=1)
    wait_for(
        lambda: f"[{event.event_id}] succeeded" in worker.log(), 60, message="the retried task"
    )
    assert f"[{event.event_id}] succeeded" in worker.log()
    assert "'purged'" in worker.log()
    assert clean_stack.emulator.messages() == []
    assert not Delivery.objects.filter(event_id=event.event_id).exists()
