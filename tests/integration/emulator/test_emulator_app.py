"""The Xiaomi routes over real HTTP: auth, package names, message rules, targets, ids, trace."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from pushworker.emulator import Emulator
from tests.integration.emulator.emulator_support import (
    ANDROID_APP,
    ANDROID_AUTH,
    IOS_APP,
    IOS_AUTH,
    android_message,
    ios_message,
    multi_item,
    post_multi,
)


def send_alias(client: httpx.Client, aliases: str = "alias-1", **fields: str | None) -> dict:
    response = client.post(
        "/v3/message/alias",
        data={**android_message(**fields), "alias": aliases},
        headers=ANDROID_AUTH,
    )
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "key=wrong"}, {"Authorization": f"Key={ANDROID_APP.secret}"}],
    ids=["missing", "wrong-secret", "capital-Key"],
)
def test_a_missing_or_wrong_secret_is_refused_with_21301_over_http_200(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    response = client.post(
        "/v3/message/alias", data={**android_message(), "alias": "a"}, headers=headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "error"
    assert body["code"] == 21301
    assert body["reason"] == "Invalid application secret."
    assert body["description"] == "认证失败"
    assert body["trace_id"].startswith("X")


def test_a_success_answers_like_xiaomi_with_info_message_id_and_trace_id(
    client: httpx.Client,
) -> None:
    body = send_alias(client, "alias-1,alias-2")
    assert body["result"] == "ok"
    assert body["code"] == 0
    assert body["description"] == "成功"
    assert body["info"] == "Received push messages for 2 ALIAS"
    assert len(body["data"]["id"]) == 22 and body["data"]["id"].startswith("a")
    assert len(body["trace_id"]) == 22 and body["trace_id"].startswith("X")


def test_message_ids_are_prefixed_by_target_type(client: httpx.Client) -> None:
    regid = client.post(
        "/v3/message/regid",
        data={**android_message(), "registration_id": "r1"},
        headers=ANDROID_AUTH,
    ).json()
    account = client.post(
        "/v2/message/user_account",
        data={**android_message(), "user_account": "u1"},
        headers=ANDROID_AUTH,
    ).json()
    assert regid["data"]["id"].startswith("s") and regid["info"].endswith("1 REGID")
    assert account["data"]["id"].startswith("u") and account["info"].endswith("1 USER_ACCOUNT")


def test_comma_joined_and_repeated_target_keys_are_merged(
    client: httpx.Client, emulator: Emulator
) -> None:
    body = urlencode(
        [*android_message().items(), ("alias", "a1,a2"), ("alias", "a3"), ("alias", "a1")]
    )
    response = client.post(
        "/v2/message/alias",
        content=body,
        headers={**ANDROID_AUTH, "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
    )
    assert response.json()["info"] == "Received push messages for 3 ALIAS"
    assert emulator.messages()[0]["targets"] == ["a1", "a2", "a3"]


def test_parameters_in_the_query_string_of_a_post_are_read(
    client: httpx.Client, emulator: Emulator
) -> None:
    response = client.post(
        "/v3/message/alias", params={**android_message(), "alias": "q1"}, headers=ANDROID_AUTH
    )
    assert response.json()["code"] == 0
    assert emulator.messages()[0]["fields"]["title"] == "Someone visited your shop"


def test_a_package_name_of_another_app_is_refused_with_22022(client: httpx.Client) -> None:
    assert send_alias(client, restricted_package_name="com.other")["code"] == 22022
    assert send_alias(client, restricted_package_name=None)["code"] == 22022


def test_an_ios_bundle_id_is_optional_but_must_match_when_given(client: httpx.Client) -> None:
    ok = client.post("/v3/message/alias", data={**ios_message(), "alias": "a"}, headers=IOS_AUTH)
    wrong = client.post(
        "/v3/message/alias",
        data={**ios_message(restricted_package_name="com.other"), "alias": "a"},
        headers=IOS_AUTH,
    )
    assert ok.json()["code"] == 0
    assert wrong.json()["code"] == 22022


@pytest.mark.parametrize("missing", ["title", "description"])
def test_an_android_notification_without_title_or_description_gets_65011(
    client: httpx.Client, missing: str
) -> None:
    body = send_alias(client, **{missing: None})
    assert (body["code"], body["reason"]) == (65011, "Title or Description is empty!")
    assert send_alias(client, **{missing: "   "})["code"] == 65011


def test_a_pass_through_message_needs_no_title_or_description(client: httpx.Client) -> None:
    assert (
        send_alias(client, pass_through="1", title=None, description=None, payload="x")["code"] == 0
    )


def test_an_ios_message_needs_a_description_but_no_title(client: httpx.Client) -> None:
    without = client.post(
        "/v3/message/alias", data={**ios_message(description=None), "alias": "a"}, headers=IOS_AUTH
    )
    assert without.json()["code"] == 65011


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"title": "t" * 50}, 65009),
        ({"title": "标" * 49}, 0),
        ({"description": "d" * 128}, 65009),
        ({"description": "😀" * 64}, 65009),  # 64 emoji are 128 UTF-16 units
        ({f"extra.k{i}": "v" for i in range(10)}, 65014),  # plus extra.notify_effect: 11
        ({"extra.k": "v" * 1025}, 65015),
        ({"notify_id": "abc"}, 10017),
    ],
    ids=[
        "title-50",
        "title-49-cjk",
        "description-128",
        "emoji",
        "11-extras",
        "long-extra",
        "bad-int",
    ],
)
def test_fields_beyond_xiaomi_limits_are_refused(
    client: httpx.Client, fields: dict, code: int
) -> None:
    assert send_alias(client, **fields)["code"] == code


def test_more_than_1000_targets_are_refused_with_10017(client: httpx.Client) -> None:
    assert send_alias(client, ",".join(f"a{i}" for i in range(1001)))["code"] == 10017
    assert send_alias(client, ",".join(f"a{i}" for i in range(1000)))["code"] == 0


def test_unknown_targets_get_20301_and_partly_known_ones_count_only_the_known(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_known_targets({"known-1", "known-2"})
    refused = send_alias(client, "ghost-1,ghost-2")
    assert (refused["code"], refused["reason"], refused["description"]) == (
        20301,
        "No valid targets!",
        "发送消息失败",
    )
    partial = send_alias(client, "known-1,ghost-1")
    assert partial["info"] == "Received push messages for 1 ALIAS"
    record = emulator.messages()[0]
    assert (record["targets"], record["dropped_targets"]) == (["known-1"], ["ghost-1"])


def test_a_multi_request_gets_one_id_and_records_every_item_under_it(
    client: httpx.Client, emulator: Emulator
) -> None:
    items = [multi_item(f"a{i}", extra={"notify_effect": "1", "n": i}) for i in range(3)]
    body = post_multi(client, items).json()
    assert body["code"] == 0 and body["info"] == "Received push messages for 3 ALIAS"
    assert list(body["data"]) == ["id"]  # one id for the request, nothing per target
    assert body["data"]["id"].startswith("a") and len(body["data"]["id"]) == 22
    records = emulator.messages()
    assert [r["targets"] for r in records] == [["a0"], ["a1"], ["a2"]]
    assert records[2]["fields"]["extra.n"] == "2"
    assert {(r["message_id"], r["trace_id"]) for r in records} == {
        (body["data"]["id"], body["trace_id"])
    }
    assert emulator.stats()["requests"] == 1


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ({"description": ""}, 65011),
        ({"title": None}, 65011),
        ({"restricted_package_name": "com.other.app"}, 22022),
        ({"title": "长" * 50}, 65009),
        ({"notify_id": "x"}, 10017),
        ({"extra": {f"k{i}": "v" for i in range(11)}}, 65014),
    ],
    ids=["empty-description", "no-title", "wrong-package", "long-title", "bad-int", "extras"],
)
def test_one_bad_message_refuses_the_whole_multi_request_and_records_nothing(
    client: httpx.Client, emulator: Emulator, bad: dict, code: int
) -> None:
    items = [multi_item("a"), multi_item("b"), multi_item("c", **bad)]  # the bad one last
    body = post_multi(client, items, "regids").json()
    assert (body["result"], body["code"]) == ("error", code)
    assert "data" not in body
    assert emulator.messages() == []
    assert emulator.stats()["by_code"] == {str(code): 1}


def test_the_trace_status_of_an_accepted_message_has_the_documented_shape(
    client: httpx.Client,
) -> None:
    message_id = send_alias(client, "a1,a2", time_to_live="86400000")["data"]["id"]
    response = client.get(
        "/v1/trace/message/status", params={"msg_id": message_id}, headers=ANDROID_AUTH
    )
    status = response.json()["data"]["data"]
    assert status["id"] == message_id
    assert status["time_to_live"] == "86400s"
    assert status["msg_type"] == "Common"
    assert status["delivered"] == 2 and status["delivery_rate"] == "100%"
    for key in (
        "create_time",
        "create_timestamp",
        "click",
        "click_rate",
        "resolved",
        "invalid_target",
        "raw_counter",
        "bar_closed",
        "device_condition_unmatch",
        "app_not_register",
    ):
        assert key in status


def test_the_trace_status_of_an_unknown_message_is_an_error(client: httpx.Client) -> None:
    response = client.get(
        "/v1/trace/message/status", params={"msg_id": "alm0000"}, headers=ANDROID_AUTH
    )
    assert response.json()["result"] == "error"
    assert response.json()["code"] == 65028


def test_the_sandbox_serves_ios_apps_and_refuses_android_ones(
    sandbox: httpx.Client, emulator: Emulator
) -> None:
    ios = sandbox.post("/v3/message/alias", data={**ios_message(), "alias": "a"}, headers=IOS_AUTH)
    android = sandbox.post(
        "/v3/message/alias", data={**android_message(), "alias": "a"}, headers=ANDROID_AUTH
    )
    assert ios.json()["code"] == 0
    assert android.json()["code"] == 22000
    assert [(m["environment"], m["package"]) for m in emulator.messages()] == [
        ("sandbox", IOS_APP.package)
    ]


def test_no_response_carries_an_x_push_host_list_header(client: httpx.Client) -> None:
    response = client.post(
        "/v3/message/alias",
        data={**android_message(), "alias": "a"},
        headers={**ANDROID_AUTH, "X-PUSH-HOST-LIST": "true"},
    )
    assert response.json()["code"] == 0
    assert "x-push-host-list" not in response.headers
