"""Specifies delivery.service.deliver against the real emulator over HTTP; every outcome kept."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from pushworker import conf
from pushworker.delivery import routing, sender, service
from pushworker.events import GoodsVisit, goods_visit, notification
from pushworker.store import attempts, deliveries
from pushworker.store.models import (
    AttemptStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)
from tests.unit.environment import ANDROID_SECRET, IOS_SECRET, emulator_env

pytestmark = pytest.mark.django_db

ALIAS = "QQC_42"
ANDROID_KEY = f"android/production/alias:{ALIAS}"


def visit(**changes) -> GoodsVisit:
    args = {
        "owner_id": "42",
        "visitor_id": "7",
        "goods_id": "1001",
        "goods_name": "二手自行车",
        "visitor_name": "小明",
    }
    return GoodsVisit.from_call(**(args | changes))


def device(os_type: str = "android", **fields) -> PushDevice:
    return PushDevice.objects.create(
        **({"user_id": "42", "app_name": "qqc", "os_type": os_type} | fields)
    )


def row(event: GoodsVisit) -> Delivery:
    return Delivery.objects.get(event_id=event.event_id)


def requests_made(emulator) -> int:
    return len(emulator.requests())


def test_an_event_is_sent_and_recorded_with_xiaomis_ids(emulator) -> None:
    made = device()
    event = visit()
    assert service.deliver(event) == service.Outcome(DeliveryStatus.SENT)
    [message] = emulator.messages()
    assert message["targets"] == [ALIAS]
    assert message["environment"] == "production"
    assert message["fields"]["description"] == "【小明】刚刚浏览了您的商品【二手自行车】~"
    assert message["fields"]["notify_id"] == str(notification.notify_id(event.event_id))
    delivery = row(event)
    assert delivery.status == DeliveryStatus.SENT
    assert (delivery.message_id, delivery.trace_id) == (message["message_id"], message["trace_id"])
    assert delivery.attempts == 1 and delivery.finished_at is not None
    [attempt] = delivery.attempt_set.all()
    assert (attempt.status, attempt.targets, attempt.http_status) == ("sent", ALIAS, 200)
    assert attempt.group_key == routing.plan([made], conf.get().app(None))[0].key


def test_an_ios_sandbox_device_is_sent_through_the_sandbox_host(emulator) -> None:
    device("ios", ios_environment="sandbox")
    assert service.deliver(visit()).status == DeliveryStatus.SENT
    [message] = emulator.messages()
    assert (message["environment"], message["platform"]) == ("sandbox", "ios")
    assert message["fields"]["aps_proper_fields.title"] == goods_visit.TITLE


def test_each_phone_of_the_owner_gets_one_request_per_unit(emulator) -> None:
    device("android")
    device("android", registration_id="regid-android-1")
    device("ios")
    assert service.deliver(visit()).status == DeliveryStatus.SENT
    sent = sorted(
        (m["platform"], m["target_type"], tuple(m["targets"])) for m in emulator.messages()
    )
    assert sent == [
        ("android", "alias", (ALIAS,)),
        ("android", "regid", ("regid-android-1",)),
        ("ios", "alias", (ALIAS,)),
    ]


def test_without_a_visitor_name_the_users_nickname_is_looked_up(emulator) -> None:
    device()
    get_user_model().objects.create(pk=7, username="bob")
    service.deliver(visit(visitor_name=None))
    assert emulator.messages()[0]["fields"]["description"].startswith("【bob】")


def test_an_unknown_visitor_is_shown_as_the_neutral_word(emulator) -> None:
    device()
    service.deliver(visit(visitor_name=None, visitor_id="999"))
    assert emulator.messages()[0]["fields"]["description"].startswith("【访客】")


def test_a_visitor_name_of_only_control_characters_is_shown_as_the_neutral_word(emulator) -> None:
    device()
    service.deliver(visit(visitor_name="\x00\x1b"))
    assert emulator.messages()[0]["fields"]["description"].startswith("【访客】")


def test_an_anonymous_visitor_is_shown_with_the_generic_nickname(emulator) -> None:

    device()
    event = visit(visitor_name=None, visitor_id=None)
    assert service.deliver(event).status == DeliveryStatus.SENT
    description = emulator.messages()[0]["fields"]["description"]
    assert description.startswith(f"【{conf.DEFAULT_ANONYMOUS_NICKNAME}】")
    assert row(event).payload["visitor_id"] is None


def test_bidi_overrides_never_reach_the_notification_text(emulator) -> None:
    device()
    service.deliver(visit(visitor_name="\u202eevil\u2066", goods_name="碗\u202d"))
    description = emulator.messages()[0]["fields"]["description"]
    assert description == "【evil】刚刚浏览了您的商品【碗】~"


def test_the_owner_viewing_their_own_goods_is_suppressed_without_a_request(emulator) -> None:
    device()
    event = visit(visitor_id="42")
    assert service.deliver(event).status == DeliveryStatus.SUPPRESSED
    assert requests_made(emulator) == 0
    assert row(event).error_category == "suppressed"


def test_an_owner_without_an_active_device_fails_with_no_device(emulator) -> None:
    device(is_active=False)
    device(user_id="43")
    event = visit()
    assert service.deliver(event) == service.Outcome(DeliveryStatus.FAILED)
    assert requests_made(emulator) == 0
    assert (row(event).status, row(event).error_category) == ("failed", "no_device")


def test_an_unknown_app_fails_naming_the_configured_apps(emulator) -> None:
    device(app_name="nope")
    event = visit(app_name="nope")
    assert service.deliver(event).status == DeliveryStatus.FAILED
    delivery = row(event)
    assert delivery.app_name == "nope" and delivery.error_category == "configuration"
    assert "unknown app 'nope'" in delivery.error_reason and "qqc" in delivery.error_reason
    assert requests_made(emulator) == 0


def test_a_target_xiaomi_does_not_know_deactivates_the_device(emulator) -> None:
    phone = device()
    emulator.set_known_targets(["QQC_someone_else"])
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.FAILED
    delivery = row(event)
    assert (delivery.error_code, delivery.error_category) == (20301, "invalid_target")
    phone.refresh_from_db()
    assert not phone.is_active and phone.deactivated_at is not None
    assert phone.deactivated_reason.startswith("Xiaomi 20301")
    assert requests_made(emulator) == 1


def test_a_wrong_app_secret_fails_as_a_configuration_error_logged_loudly(
    emulator, configure, caplog
) -> None:
    configure(**emulator_env(emulator, MIPUSH_ANDROID_APP_SECRET="not-the-secret"))
    phone = device()
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.FAILED
    delivery = row(event)
    assert (delivery.error_code, delivery.error_category) == (21301, "configuration")
    assert delivery.attempts == 1  # never retried
    phone.refresh_from_db()
    assert phone.is_active
    assert any(
        r.levelno == logging.ERROR and getattr(r, "code", None) == 21301 for r in caplog.records
    )


def test_a_platform_without_credentials_fails_that_unit_and_sends_the_others(
    emulator, configure
) -> None:
    env = emulator_env(emulator)
    del env["MIPUSH_IOS_APP_SECRET"], env["MIPUSH_IOS_BUNDLE_ID"]
    configure(**env)
    device("android")
    device("ios")
    event = visit()
    # Reached the Android phone, not the iPhone: "partial" says so (issue #10, item 5).
    assert service.deliver(event).status == DeliveryStatus.PARTIAL
    assert [m["platform"] for m in emulator.messages()] == ["android"]
    delivery = row(event)
    assert delivery.error_category == "configuration"
    assert "no ios credentials" in delivery.error_reason


def test_a_transient_error_is_retried_quickly_within_the_run(emulator) -> None:
    device()
    emulator.set_faults(script=("10001",))
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.SENT
    statuses = list(row(event).attempt_set.values_list("status", flat=True))
    assert statuses == [AttemptStatus.FAILED, AttemptStatus.SENT]


def seconds_until_due(event: GoodsVisit) -> float:
    return (row(event).next_attempt_at - timezone.now()).total_seconds()


def test_a_lasting_transient_error_makes_the_row_wait_within_the_ceiling(emulator) -> None:
    device()
    settings = conf.get()
    emulator.set_faults(script=("10001",) * settings.retry.quick_attempts)
    event = visit()
    deliveries.ensure(event, "qqc")
    Delivery.objects.filter(event_id=event.event_id).update(retries=3)
    outcome = service.deliver(event)
    assert outcome.status == DeliveryStatus.RETRYING
    assert seconds_until_due(event) <= settings.retry.countdown_ceiling(3)
    assert requests_made(emulator) == settings.retry.quick_attempts
    delivery = row(event)
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.published_at is None  # no message carries it: a drain claims it when due
    assert delivery.retries == 4
    assert (delivery.error_code, delivery.error_category) == (10001, "transient")
    assert delivery.attempts == settings.retry.quick_attempts


def test_a_transient_error_past_the_kinds_lifetime_is_dead_as_expired(emulator) -> None:
    device()
    event = visit()
    emulator.set_faults(fail_rate=1.0, fail_with="http503")
    assert service.deliver(event).status == DeliveryStatus.RETRYING
    made = requests_made(emulator)
    lifetime = GoodsVisit.policy.lifetime
    Delivery.objects.filter(event_id=event.event_id).update(
        created_at=timezone.now() - lifetime - timedelta(seconds=1)
    )
    outcome = service.deliver(event)
    assert outcome == service.Outcome(DeliveryStatus.DEAD)
    delivery = row(event)
    assert delivery.status == DeliveryStatus.DEAD and delivery.error_category == "expired"
    assert "lifetime of 1800 s" in delivery.error_reason
    assert delivery.finished_at is not None and delivery.next_attempt_at is None
    assert requests_made(emulator) == made  # not worth another request


def test_many_transient_errors_within_the_lifetime_keep_the_event_waiting(emulator) -> None:
    device()
    event = visit()
    emulator.set_faults(fail_rate=1.0, fail_with="http503")
    deliveries.ensure(event, "qqc")
    Delivery.objects.filter(event_id=event.event_id).update(retries=50)
    assert service.deliver(event).status == DeliveryStatus.RETRYING


def test_with_retry_max_set_a_transient_error_after_the_last_retry_is_dead(
    emulator, configure
) -> None:
    configure(**emulator_env(emulator, PUSHWORKER_RETRY_MAX="8"))
    device()
    event = visit()
    emulator.set_faults(fail_rate=1.0, fail_with="http503")
    assert service.deliver(event).status == DeliveryStatus.RETRYING
    Delivery.objects.filter(event_id=event.event_id).update(retries=8)
    assert service.deliver(event) == service.Outcome(DeliveryStatus.DEAD)
    delivery = row(event)
    assert delivery.status == DeliveryStatus.DEAD and delivery.error_category == "transient"


def test_an_event_queued_past_its_lifetime_ends_expired_without_a_request(emulator) -> None:
    device()
    event = visit()
    deliveries.ensure(event, "qqc")
    Delivery.objects.filter(event_id=event.event_id).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    assert service.deliver(event).status == DeliveryStatus.DEAD
    assert row(event).error_category == "expired" and requests_made(emulator) == 0


def test_throttling_is_not_retried_quickly_but_later_with_the_longer_backoff(emulator) -> None:
    device()
    settings = conf.get()
    emulator.set_faults(fail_rate=1.0, fail_with="10027")
    event = visit()
    for retries in range(3):
        outcome = service.deliver(event)
        assert outcome.status == DeliveryStatus.RETRYING
        assert seconds_until_due(event) <= settings.retry.countdown_ceiling(retries, True)
        assert requests_made(emulator) == retries + 1  # one request per call
    assert (row(event).error_code, row(event).error_category) == (10027, "throttled")


def test_a_delivered_event_is_not_sent_again(emulator) -> None:
    device()
    event = visit()
    service.deliver(event)
    assert service.deliver(event, redelivered=True) == service.Outcome(DeliveryStatus.SENT)
    assert requests_made(emulator) == 1


def test_a_unit_already_sent_is_not_sent_again_when_another_unit_is_retried(emulator) -> None:
    device("android")
    device("ios", registration_id="ios-regid-1")
    emulator.set_faults(fail_rate=1.0, fail_with="10002", target="ios-regid-1")
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.RETRYING
    assert [m["platform"] for m in emulator.messages()] == ["android"]
    emulator.set_faults()
    before = requests_made(emulator)
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert requests_made(emulator) == before + 1
    assert sorted(m["platform"] for m in emulator.messages()) == ["android", "ios"]


def test_when_the_devices_change_between_retries_no_accepted_target_is_requested_again(
    emulator,
) -> None:
    # Defined behaviour (issue #8): each run plans from the owner's current active devices minus
    # the targets Xiaomi already accepted for this event. A new phone gets the push once; a phone
    # that left is not sent to; a phone already reached is never asked again, though its unit's
    # target list (and so its key) changed.
    device("android", registration_id="a-1")
    leaving = device("ios", registration_id="ios-regid-1")
    emulator.set_faults(fail_rate=1.0, fail_with="10002", target="ios-regid-1")
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.RETRYING
    emulator.set_faults()
    device("android", registration_id="a-2")  # registered before the retry
    PushDevice.objects.filter(pk=leaving.pk).update(is_active=False)
    assert service.deliver(event).status == DeliveryStatus.SENT
    sent = [(m["platform"], m["targets"]) for m in emulator.messages()]
    assert sent == [("android", ["a-1"]), ("android", ["a-2"])]
    assert not row(event).possible_duplicate


def test_a_target_that_may_have_been_sent_is_flagged_even_in_a_different_unit(emulator) -> None:
    device("android", registration_id="a-1")
    # Every quick try ends in a 500: the request may have reached Xiaomi, so the target is unknown.
    emulator.set_faults(script=("http500",) * conf.get().retry.quick_attempts)
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.RETRYING
    device("android", registration_id="a-2")
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert emulator.messages()[-1]["targets"] == ["a-1", "a-2"]
    assert row(event).possible_duplicate


def abandoned(event: GoodsVisit, *, claimed_ago: float, crashes: int = 0) -> Delivery:
    """A delivery as a worker that died mid-request leaves it."""
    delivery = deliveries.ensure(event, "qqc")
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING,
        crashes=crashes,
        claimed_at=timezone.now() - timedelta(seconds=claimed_ago),
    )
    return delivery


def test_a_request_cut_by_a_crash_is_sent_again_and_flagged_possible_duplicate(emulator) -> None:
    device()
    event = visit()
    delivery = abandoned(event, claimed_ago=3600)
    unit = SimpleNamespace(
        key=ANDROID_KEY,
        platform="android",
        environment="production",
        target_type="alias",
        targets=(ALIAS,),
    )
    attempts.start([(delivery, unit)])  # as the dead run recorded it, before its request
    cut = DeliveryAttempt.objects.get(delivery=delivery)
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert len(emulator.messages()) == 1
    delivery.refresh_from_db()
    assert delivery.possible_duplicate and delivery.crashes == 1
    cut.refresh_from_db()
    assert cut.status == AttemptStatus.UNKNOWN and cut.finished_at is not None


def test_a_crashed_run_without_an_open_request_is_not_flagged_duplicate(emulator) -> None:
    device()
    event = visit()
    abandoned(event, claimed_ago=3600)
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert not row(event).possible_duplicate and row(event).crashes == 1


def test_a_request_xiaomi_may_have_acted_on_and_sent_again_is_flagged_possible_duplicate(
    emulator,
) -> None:
    device()
    emulator.set_faults(script=("http500",))  # the 500 came after Xiaomi may have sent it
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert row(event).possible_duplicate
    statuses = list(row(event).attempt_set.values_list("status", flat=True))
    assert statuses == [AttemptStatus.UNKNOWN, AttemptStatus.SENT]


def test_a_request_that_certainly_did_not_reach_xiaomi_is_retried_without_a_flag(emulator) -> None:
    device()
    emulator.set_faults(script=("http503",))
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert not row(event).possible_duplicate


def test_a_maybe_delivered_request_is_remembered_for_the_next_run(emulator) -> None:
    device()
    emulator.set_faults(script=("http503", "http503", "http500"))
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.RETRYING
    assert not row(event).possible_duplicate  # nothing was sent twice yet
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert row(event).possible_duplicate


def test_a_fresh_claim_of_another_run_is_left_to_that_run(emulator) -> None:
    device()
    event = visit()
    abandoned(event, claimed_ago=1)
    assert service.deliver(event) == service.Outcome(DeliveryStatus.SENDING)
    assert requests_made(emulator) == 0
    assert row(event).crashes == 0 and row(event).status == DeliveryStatus.SENDING


def test_a_redelivered_message_takes_over_a_fresh_claim_and_counts_a_crash(emulator) -> None:
    device()
    event = visit()
    abandoned(event, claimed_ago=1)
    assert service.deliver(event, redelivered=True).status == DeliveryStatus.SENT
    assert row(event).crashes == 1 and row(event).redelivered


def test_an_event_that_killed_max_crashes_workers_is_dead_as_poison(emulator) -> None:
    device()
    event = visit()
    abandoned(event, claimed_ago=3600, crashes=conf.get().max_crashes - 1)
    assert service.deliver(event) == service.Outcome(DeliveryStatus.DEAD)
    delivery = row(event)
    assert delivery.error_category == "poison" and delivery.crashes == conf.get().max_crashes
    assert requests_made(emulator) == 0


def test_a_retrying_delivery_is_claimed_by_its_retry(emulator) -> None:
    device()
    event = visit()
    delivery = deliveries.ensure(event, "qqc")
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.RETRYING)
    assert service.deliver(event).status == DeliveryStatus.SENT


def test_the_app_secret_never_appears_in_logs_or_records(emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="pushworker")
    device("android")
    device("ios", registration_id="ios-regid-1")
    events = [visit() for _ in range(4)]
    service.deliver(events[0])  # sent
    emulator.set_faults(script=("10001",) * 3)
    service.deliver(events[1])  # retrying
    emulator.set_faults(fail_rate=1.0, fail_with="10027")
    service.deliver(events[2])  # throttled
    emulator.set_faults()
    emulator.set_known_targets(["nobody"])
    service.deliver(events[3])  # invalid target
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + repr(vars(record))
        assert ANDROID_SECRET not in text and IOS_SECRET not in text, record
    stored = repr(list(Delivery.objects.values())) + repr(list(DeliveryAttempt.objects.values()))
    assert ANDROID_SECRET not in stored and IOS_SECRET not in stored
    assert Delivery.objects.filter(status__in=["sent", "retrying", "failed"]).count() == 4


def test_log_lines_carry_the_delivery_id_and_mask_the_target(emulator, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pushworker")
    device(registration_id="regid-abcdefghijk")
    event = visit()
    service.deliver(event)
    [sent] = [r for r in caplog.records if r.getMessage() == "sent"]
    assert sent.delivery_id == event.event_id
    assert (sent.platform, sent.environment) == ("android", "production")
    assert sent.targets == ["reg****jk"]
    assert "regid-abcdefghijk" not in repr(vars(sent))


def test_one_client_is_kept_per_secret_and_its_repr_hides_the_secret(emulator) -> None:
    settings = conf.get()
    android, ios = settings.app(None).android, settings.app(None).ios
    client = sender.client_for(android, settings)
    assert client is sender.client_for(android, settings)
    assert client is not sender.client_for(ios, settings)
    assert ANDROID_SECRET not in repr(client)
    assert client.endpoints.production == emulator.production_url


def test_waiting_for_another_runs_claim_spends_none_of_the_retry_budget(emulator) -> None:
    device()
    event = visit()
    abandoned(event, claimed_ago=1)
    for _ in range(10):
        assert service.deliver(event).status == DeliveryStatus.SENDING
    assert row(event).retries == 0
