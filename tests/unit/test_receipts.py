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


def sent(targets: str = "QQC_42", **device) -> Delivery:
    """A delivery recorded as sent to one device, with an attempt holding Xiaomi's id."""
    event = visit()
    delivery = deliveries.ensure(event, "qqc")
    attempt = rows.attempt(
        delivery,
        key="k",
        platform="android",
        environment="production",
        target_type="regid" if device.get("registration_id") else "alias",
        targets=targets,
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
    delivery = sent(targets, **device)
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
    summaries = [r for r in caplog.records if r.message == "receipts"]
    assert [(r.receipts, getattr(r, "applied", 0)) for r in summaries] == [(1, 1), (1, 0)]
    assert summaries[1].repeated == 1


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


def test_a_receipt_without_param_changes_nothing_even_when_its_message_id_is_known(client) -> None:
    # Every message pushworker sends carries its event id as the param, and Xiaomi echoes it on
    # types 1, 2 and 16; a batch's one message id is shared by many users' deliveries, so the
    # message id alone cannot say whose a receipt is.
    delivery = sent()
    for kind in (1, 16):
        entry = receipt(delivery, kind)
        del entry["alm1"]["param"]
        assert post(client, entry).content == b"ok"
    delivery.refresh_from_db()
    assert delivery.delivered_at is None and PushDevice.objects.get().is_active


def test_a_forged_receipt_naming_another_users_target_deactivates_nothing_and_says_ok(
    client,
) -> None:
    mine = sent()  # user 42's delivery, sent to QQC_42
    theirs = PushDevice.objects.create(
        user_id="43", app_name="qqc", os_type="android", registration_id="regid-of-43"
    )
    forged = [
        receipt(mine, 16, "regid-of-43", errorCode=1),  # the issue's case: 43's regid
        receipt(mine, 16, "QQC_43", errorCode=2),  # 43's predictable alias
        receipt(mine, 16, "QQC_42,regid-of-43", errorCode=1),  # theirs hidden among mine
        {"alm-other": receipt(mine, 16)["alm1"]},  # a message id this delivery never had
        {"alm1": receipt(mine, 16)["alm1"] | {"param": str(uuid.uuid4())}},  # another param
    ]
    answers = [post(client, entry) for entry in forged[:2] + forged[3:]]
    assert {(a.status_code, a.content) for a in answers} == {(200, b"ok")}
    theirs.refresh_from_db()
    assert theirs.is_active
    assert PushDevice.objects.get(user_id="42").is_active  # only the mixed one may touch 42's
    post(client, forged[2])
    theirs.refresh_from_db()
    assert theirs.is_active and not PushDevice.objects.get(user_id="42").is_active


def test_a_receipt_for_an_attempt_still_waiting_for_xiaomis_answer_applies(client) -> None:
    delivery = deliveries.ensure(visit(), "qqc")
    rows.attempt(  # no message id recorded yet: the receipt came first
        delivery,
        key="k",
        platform="android",
        environment="production",
        target_type="alias",
        targets="QQC_42",
    )
    post(client, receipt(delivery, 1))
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None


def test_a_request_applies_at_most_the_cap_and_writes_one_summary_line(client, caplog) -> None:
    from pushworker.web.api import receipts

    delivery = sent()
    entries = {f"forged-{n}": {"param": str(uuid.uuid4()), "type": 16} for n in range(1_500)}
    entries = receipt(delivery, 1) | entries
    caplog.set_level("INFO", logger="pushworker.receipts")
    assert post(client, entries).content == b"ok"
    [line] = [r for r in caplog.records if r.name == "pushworker.receipts"]
    assert (line.receipts, line.applied, line.skipped) == (1_501, 1, 1_501 - receipts.MAX_RECEIPTS)
    assert line.unmatched == receipts.MAX_RECEIPTS - 1


def test_during_a_rotation_the_previous_token_is_accepted_too(configure) -> None:
    previous = "prev-" + "p" * 40
    configure(**CREDENTIALS, **RECEIPTS, PUSHWORKER_RECEIPTS_PREVIOUS_TOKEN=previous)
    delivery = sent()
    assert post(Client(), receipt(delivery, 1), f"/api/v1/receipts/{previous}").status_code == 200
    assert post(Client(), receipt(delivery, 2), URL).status_code == 200
    assert post(Client(), receipt(delivery, 1), "/api/v1/receipts/" + "x" * 45).status_code == 404
    delivery.refresh_from_db()
    assert delivery.clicked_at is not None
    settings = conf.get()
    assert previous not in repr(settings) and previous not in json.dumps(settings.describe())


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
    nested = client.post(URL, {"data": "[" * 100_000})  # a RecursionError, a 500 before
    assert nested.status_code == 400 and nested.json() == {"data": ["Must be JSON."]}
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
        (RECEIPTS | {"PUSHWORKER_RECEIPTS_PREVIOUS_TOKEN": "short"}, "_PREVIOUS_TOKEN"),
        (RECEIPTS | {"PUSHWORKER_RECEIPTS_PREVIOUS_TOKEN": TOKEN}, "_PREVIOUS_TOKEN"),
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
