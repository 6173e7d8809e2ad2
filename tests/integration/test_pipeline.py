"""send_goods_visit.delay() → Redis → a real celery worker → the emulator → delivery rows.

Xiaomi's errors and refusals (retried 5xx, 21301, 20301) are the fault scenarios' (tests/faults).
Tests that need only the default worker share one (``warm_stack``); a worker start is the slow part.
"""

from __future__ import annotations

import pytest

from tests.support.stack import ANDROID_PACKAGE, IOS_BUNDLE, wait_for

pytestmark = pytest.mark.slow

TERMINAL = {"sent", "partial", "suppressed", "failed", "dead"}


def add_device(owner: str, os_type: str, **fields):
    from pushworker.store.models import PushDevice

    return PushDevice.objects.create(user_id=owner, app_name="qqc", os_type=os_type, **fields)


def visit(owner: str, **overrides) -> str:
    from pushworker.tasks import send_goods_visit

    kwargs = {
        "owner_id": owner,
        "visitor_id": "v-1",
        "goods_id": "g-9",
        "goods_name": "青花瓷碗",
        "visitor_name": "小明",
    } | overrides
    return send_goods_visit.delay(**kwargs).id


def finished(event_id: str, timeout: float = 30.0):
    from pushworker.store.models import Delivery

    def done():
        row = Delivery.objects.filter(event_id=event_id).first()
        return row if row and row.status in TERMINAL else None

    return wait_for(done, timeout, message=f"delivery {event_id} to finish")


def sends_to(stack, target: str) -> list[dict]:
    return [m for m in stack.emulator.messages() if target in m["targets"]]


def test_each_platform_and_environment_gets_exactly_one_request_on_its_own_host(warm_stack):
    stack = warm_stack
    add_device("100", "android")
    add_device("200", "ios", ios_environment="sandbox")
    add_device("300", "ios", ios_environment="production")

    events = {owner: visit(owner) for owner in ("100", "200", "300")}
    for event_id in events.values():
        assert finished(event_id).status == "sent"

    [android] = sends_to(stack, "QQC_100")
    assert (android["environment"], android["platform"]) == ("production", "android")
    assert android["fields"]["restricted_package_name"] == ANDROID_PACKAGE
    assert android["fields"]["title"] == "您有一条新消息~"
    assert android["fields"]["description"] == "【小明】刚刚浏览了您的商品【青花瓷碗】~"
    assert android["fields"]["extra.type"] == "2"
    assert android["fields"]["extra.goods_id"] == "g-9"
    assert android["fields"]["pass_through"] == "0"

    [sandbox] = sends_to(stack, "QQC_200")
    assert (sandbox["environment"], sandbox["platform"]) == ("sandbox", "ios")
    assert sandbox["fields"]["restricted_package_name"] == IOS_BUNDLE
    assert sandbox["fields"]["extra.badge"] == "1"

    [production] = sends_to(stack, "QQC_300")
    assert (production["environment"], production["platform"]) == ("production", "ios")
    assert len(stack.emulator.messages()) == 3


def test_a_registration_id_is_preferred_over_the_alias(warm_stack):
    add_device("110", "android", registration_id="regid-110-abcdef")

    assert finished(visit("110")).status == "sent"
    [message] = warm_stack.emulator.messages()
    assert message["target_type"] in ("regid", "registration_id")
    assert message["targets"] == ["regid-110-abcdef"]


def test_a_delivery_xiaomi_never_takes_waits_without_spending_retries_then_expires(warm_stack):
    from datetime import timedelta

    from django.utils import timezone

    from pushworker.store.models import Delivery

    add_device("150", "android")
    warm_stack.emulator.set_faults(fail_rate=1.0, fail_with="10002")
    event_id = visit("150")
    # Every request fails: after OUTAGE_FAILURES in a row the host counts as down, and the event
    # waits for probes as a row instead of spending its retries.
    wait_for(
        lambda: Delivery.objects.filter(event_id=event_id, error_category="outage").exists(),
        30,
        message="the delivery waiting for the outage to end",
    )
    spent = Delivery.objects.get(event_id=event_id).retries
    assert spent <= 3  # the failures before the breaker opened, not one per probe
    # Its kind's lifetime passes (half an hour for a goods visit): the next run ends it.
    Delivery.objects.filter(event_id=event_id).update(
        created_at=timezone.now() - timedelta(hours=1), next_attempt_at=timezone.now()
    )
    row = finished(event_id, timeout=30)
    assert (row.status, row.error_category) == ("dead", "expired")
    assert "lifetime of 1800 s" in row.error_reason
    assert warm_stack.emulator.messages() == []
    warm_stack.emulator.set_faults()  # the breaker closes with the next answered request


def test_an_owner_without_a_device_ends_failed_without_a_request(warm_stack):

    row = finished(visit("160"))
    assert (row.status, row.error_reason, row.attempts) == ("failed", "no device", 0)
    assert warm_stack.emulator.requests() == []


def test_a_burst_of_events_is_sent_once_each(warm_stack):
    owners = [str(1000 + n) for n in range(40)]
    for owner in owners:
        add_device(owner, "android")

    events = [visit(owner, visitor_id=f"v{owner}") for owner in owners]
    for event_id in events:
        row = finished(event_id)
        assert row.status == "sent", (row.error_code, row.error_reason)
    targets = [t for m in warm_stack.emulator.messages() for t in m["targets"]]
    assert sorted(targets) == sorted(f"QQC_{owner}" for owner in owners)


def test_an_asynchronous_outbox_commit_is_the_inserts_alone_and_the_event_is_sent(
    warm_stack, monkeypatch
):
    from django.db import connection

    from pushworker import conf

    if connection.vendor != "postgresql":
        pytest.skip("an asynchronous commit is PostgreSQL's")
    add_device("170", "android")
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    monkeypatch.setenv("PUSHWORKER_ENQUEUE_COMMIT", "asynchronous")
    conf.get.cache_clear()
    try:
        with connection.execute_wrapper(record):
            event_id = visit("170")
    finally:
        monkeypatch.delenv("PUSHWORKER_ENQUEUE_COMMIT")
        conf.get.cache_clear()
    [insert] = [sql for sql in statements if sql.startswith("INSERT")]
    assert insert.endswith("RETURNING set_config('synchronous_commit', 'off', true)")
    with connection.cursor() as cursor:  # the connection's own commits stay durable
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert finished(event_id).status == "sent"


def test_no_secret_reaches_the_worker_log_or_the_task_arguments(clean_stack):
    from pushworker.store.models import Delivery

    add_device("170", "android")
    add_device("170", "ios", ios_environment="sandbox")
    text_logs = {"PUSHWORKER_LOG_LEVEL": "DEBUG", "PUSHWORKER_LOG_FORMAT": "text"}
    worker = clean_stack.worker(env=text_logs)
    clean_stack.emulator.set_faults(script=("http500",))

    assert finished(visit("170")).status == "sent"
    event_ids = [str(e) for e in Delivery.objects.values_list("event_id", flat=True)]
    # the log names the event and where it went, with the device target masked
    assert f"delivery_id={event_ids[0]}" in worker.log()
    assert "environment=sandbox" in worker.log()
    assert "QQC_170" not in worker.log()
    recorded = "\n".join(str(m) for m in clean_stack.emulator.messages())
    for secret in clean_stack.secrets():
        assert secret not in worker.log()
        assert secret not in recorded


def test_a_worker_without_credentials_refuses_to_start_naming_every_missing_key(clean_stack):
    with pytest.raises(RuntimeError) as info:
        clean_stack.worker(env={"MIPUSH_ANDROID_APP_SECRET": "", "MIPUSH_IOS_APP_SECRET": ""})
    assert "MIPUSH_ANDROID_APP_SECRET is missing" in str(info.value)
    assert "MIPUSH_IOS_APP_SECRET is missing" in str(info.value)
