"""Specifies Xiaomi's delivery receipts: the callback fields sent, and the receiving endpoint."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from pushworker import conf
from pushworker.delivery import service
from pushworker.events import GoodsVisit
from pushworker.store import attempts, deliveries
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from tests.support import rows
from tests.unit.environment import CREDENTIALS, emulator_env

pytestmark = pytest.mark.django_db
TOKEN = "rcpt-" + "k" * 40
RECEIPTS = {
    "PUSHWORKER_RECEIPTS_URL": "http://push.example.com/api/v1/receipts",
    "PUSHWORKER_RECEIPTS_TOKEN": TOKEN,
}
URL = f"/api/v1/receipts/{TOKEN}"


def visit() -> GoodsVisit:
    return GoodsVisit.from_call(
        owner_id="42", visitor_id="7", goods_id="1001", goods_name="自行车", visitor_name="小明"
    )


def sent(**device) -> Delivery:
    """A delivery recorded as sent to one device, with an attempt holding Xiaomi's id."""
    event = visit()
    delivery = deliveries.ensure(event, "qqc")
    attempt = rows.attempt(
        delivery,
        key="k",
        platform="android",
        environment="production",
        target_type="alias",
        targets="QQC_42",
    )
    attempts.sent(rows.request(attempt), message_id="alm1", trace_id="Xlm1", http_status=200)
    PushDevice.objects.create(
        **({"user_id": "42", "app_name": "qqc", "os_type": "android"} | device)
    )
    return delivery


def post(client: Client, entries: dict, url: str = URL):
    return client.post(url, {"data": json.dumps(entries)})


def receipt(delivery: Delivery, kind: int, targets: str = "QQC_42", **more) -> dict:
    entry = {"param": str(delivery.event_id), "type": kind, "targets": targets}
    return {"alm1": entry | {"barStatus": "Enable", "timestamp": 1764560000000} | more}


@pytest.fixture
def client(configure) -> Client:
    configure(**CREDENTIALS, **RECEIPTS)
    return Client()


def test_a_delivered_receipt_sets_delivered_at_once_even_when_it_arrives_twice(client) -> None:
    delivery = sent()
    assert post(client, receipt(delivery, 1)).status_code == 200
    delivery.refresh_from_db()
    first = delivery.delivered_at
    assert first is not None and first.timestamp() == 1764560000
    later = receipt(delivery, 1, timestamp=1764569999000)
    assert post(client, later).content == b"ok"
    delivery.refresh_from_db()
    assert delivery.delivered_at == first and delivery.clicked_at is None


def test_a_clicked_receipt_sets_clicked_at_once_and_implies_delivery(client) -> None:
    delivery = sent()
    post(client, receipt(delivery, 2))
    post(client, receipt(delivery, 2, timestamp=1764569999000))
    delivery.refresh_from_db()
    assert delivery.clicked_at == delivery.delivered_at
    assert delivery.clicked_at.timestamp() == 1764560000


@pytest.mark.parametrize(
    ("device", "targets", "code"),
    [
        ({}, "QQC_42", 2),  # the default alias: prefix + user id
        ({"alias": "custom-7"}, "custom-7", 2),
        ({"registration_id": "regid-x"}, "regid-x", 1),
    ],
)
def test_an_invalid_target_receipt_deactivates_the_named_device_once(
    client, caplog, device, targets, code
) -> None:
    delivery = sent(**device)
    bystander = PushDevice.objects.create(
        user_id="43", app_name="qqc", os_type="android", registration_id="regid-other"
    )
    post(client, receipt(delivery, 16, targets, errorCode=code))
    phone = PushDevice.objects.get(user_id="42")
    assert not phone.is_active and phone.deactivated_reason.startswith("Xiaomi receipt 16: invalid")
    stamped = phone.deactivated_at
    post(client, receipt(delivery, 16, targets, errorCode=code))
    phone.refresh_from_db()
    assert phone.deactivated_at == stamped
    bystander.refresh_from_db()
    assert bystander.is_active
    assert [r.changed for r in caplog.records if r.message.startswith("receipt:")] == [1, 0]


@pytest.mark.parametrize("kind", [32, 64, 128, 1024])
def test_other_receipt_types_are_accepted_and_change_nothing(client, kind) -> None:
    delivery = sent()
    entry = receipt(delivery, kind)
    if kind == 128:  # an over-quota receipt carries no param: found through the message id
        del entry["alm1"]["param"]
    assert post(client, entry).status_code == 200
    delivery.refresh_from_db()
    assert (delivery.delivered_at, delivery.clicked_at) == (None, None)
    assert PushDevice.objects.get().is_active


def test_a_receipt_without_param_finds_its_delivery_by_message_id(client) -> None:
    delivery = sent()
    entry = receipt(delivery, 1)
    del entry["alm1"]["param"]
    post(client, entry)
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None


def test_a_receipt_without_param_of_a_batch_finds_the_delivery_its_targets_name(client) -> None:
    other = deliveries.ensure(GoodsVisit.from_call("43", "7", "1", "碗", "小明"), "qqc")
    for delivery, target in ((other, "QQC_43"), (sent(), "QQC_42")):  # one request, one id
        attempt = rows.attempt(
            delivery,
            key="k",
            platform="android",
            environment="production",
            target_type="alias",
            targets=target,
        )
        attempts.sent(rows.request(attempt), message_id="alm1", trace_id="Xlm1", http_status=200)
    mine = Delivery.objects.get(recipient_id="42")
    entry = receipt(mine, 1)
    del entry["alm1"]["param"]
    post(client, entry)
    assert Delivery.objects.get(recipient_id="42").delivered_at is not None
    assert Delivery.objects.get(recipient_id="43").delivered_at is None


def test_a_receipt_of_an_unknown_message_is_answered_ok_and_ignored(client) -> None:
    entry = {"nope": {"param": str(uuid.uuid4()), "type": 1, "targets": "QQC_42"}}
    assert post(client, entry).status_code == 200


def test_a_wrong_token_is_a_404_and_changes_nothing(client) -> None:
    delivery = sent()
    for url in ("/api/v1/receipts/" + "x" * 45, URL[:-1], URL + "k"):
        assert post(client, receipt(delivery, 1), url).status_code == 404
    delivery.refresh_from_db()
    assert delivery.delivered_at is None


def test_receipts_off_every_token_is_a_404(configure) -> None:
    configure(**CREDENTIALS)
    delivery = sent()
    assert post(Client(), receipt(delivery, 1)).status_code == 404
    assert post(Client(), receipt(delivery, 1), "/api/v1/receipts/").status_code == 404


def test_a_get_is_refused_and_bad_data_is_a_400_naming_the_field(client, caplog) -> None:
    assert client.get(URL).status_code == 405
    assert client.post(URL, {}).json() == {"data": ["This field is required."]}
    assert client.post(URL, {"data": "{nope"}).status_code == 400
    assert client.post(URL, {"data": "[1]"}).status_code == 400
    assert TOKEN not in caplog.text  # Django's own 4xx log line would show the path


def test_messages_carry_the_callback_fields_when_receipts_are_on(emulator, configure) -> None:
    configure(**emulator_env(emulator, **RECEIPTS, PUSHWORKER_RECEIPTS_TYPES="19"))
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="ios")
    event = visit()
    assert service.deliver(event).status == DeliveryStatus.SENT
    for message in emulator.messages():
        callback = f"{RECEIPTS['PUSHWORKER_RECEIPTS_URL']}/{TOKEN}"
        assert message["fields"]["extra.callback"] == callback
        assert message["fields"]["extra.callback.param"] == str(event.event_id)
        assert message["fields"]["extra.callback.type"] == "19"


def test_messages_carry_no_callback_field_while_receipts_are_off(emulator) -> None:
    PushDevice.objects.create(user_id="42", app_name="qqc", os_type="android")
    service.deliver(visit())
    [message] = emulator.messages()
    assert not [name for name in message["fields"] if "callback" in name]


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"PUSHWORKER_RECEIPTS_URL": "ftp://x"}, "PUSHWORKER_RECEIPTS_URL"),
        ({"PUSHWORKER_RECEIPTS_URL": "http://x/r"}, "PUSHWORKER_RECEIPTS_TOKEN"),
        (RECEIPTS | {"PUSHWORKER_RECEIPTS_TOKEN": "short"}, "PUSHWORKER_RECEIPTS_TOKEN"),
        (RECEIPTS | {"PUSHWORKER_RECEIPTS_URL": "http://x/" + "a" * 90}, "PUSHWORKER_RECEIPTS_URL"),
        ({"PUSHWORKER_RECEIPTS_TYPES": "4"}, "PUSHWORKER_RECEIPTS_TYPES"),
        ({"PUSHWORKER_RECEIPTS_TYPES": "many"}, "PUSHWORKER_RECEIPTS_TYPES"),
    ],
)
def test_bad_receipt_settings_are_problems_naming_the_variable(env, key) -> None:
    with pytest.raises(conf.SettingsError) as error:
        conf.load(environ=CREDENTIALS | env)
    assert key in str(error.value) and TOKEN not in str(error.value)


def test_the_token_never_shows_in_the_settings_repr_or_check(configure) -> None:
    settings = conf.load(environ=CREDENTIALS | RECEIPTS)
    assert settings.receipts.enabled and settings.receipts.types == 147
    assert TOKEN not in repr(settings) and TOKEN not in json.dumps(settings.describe())
    assert settings.describe()["receipts"]["token"] == f"**** ({len(TOKEN)} chars)"


def test_a_receipt_that_cannot_be_applied_is_logged_and_the_others_still_are(client) -> None:
    # An absurd timestamp falls back to now; an entry naming an unknown app's delivery is skipped
    # with a log line (never a 500, whose log line would show the token in the path).
    delivery = sent()
    entries = receipt(delivery, 1, timestamp=10**20)
    Delivery.objects.filter(pk=delivery.pk).update(app_name="gone")
    entries["alm2"] = {"param": str(delivery.event_id), "type": 16, "targets": "QQC_42"}
    assert post(client, entries).status_code == 200
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None


def test_a_receipt_type_stored_nowhere_reads_no_delivery(client, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        post(client, {"alm9": {"type": 128, "targets": "QQC_42", "timestamp": 1764560000000}})
