"""Fault injection over real HTTP: Xiaomi errors, HTTP 5xx, latency, hang, reset, scripts."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from pushworker.emulator import Emulator, Faults
from tests.integration.emulator.emulator_support import (
    ANDROID_AUTH,
    IOS_AUTH,
    android_message,
    ios_message,
    multi_item,
    post_multi,
)
from tests.support.stack import wait_for


def send(client: httpx.Client, alias: str = "a1", timeout: float = 5.0) -> httpx.Response:
    return client.post(
        "/v3/message/alias",
        data={**android_message(), "alias": alias},
        headers=ANDROID_AUTH,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("kind", "code", "description"),
    [
        ("10002", 10002, "系统繁忙"),
        ("10027", 10027, "应用的接口调用太频繁"),
        ("200001", 200001, "超过每日配额"),
    ],
)
def test_xiaomi_error_faults_answer_http_200_with_the_code(
    client: httpx.Client, emulator: Emulator, kind: str, code: int, description: str
) -> None:
    emulator.set_faults(fail_rate=1.0, fail_with=kind)
    response = send(client)
    assert response.status_code == 200
    body = response.json()
    assert (body["result"], body["code"], body["description"]) == ("error", code, description)
    assert body["trace_id"].startswith("X")
    assert emulator.messages() == []


def test_the_quota_fault_reason_names_quota_and_acked_counts(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["200001"])
    assert send(client).json()["reason"] == "exceed quota, quota: 50000, have acked: 50000"


def test_an_http_fault_answers_that_status_with_a_non_json_body(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["http500", "http503"])
    first, second = send(client), send(client)
    assert (first.status_code, second.status_code) == (500, 503)
    assert first.headers["content-type"].startswith("text/html")


def test_a_fail_rate_of_zero_never_fails_and_one_always_fails(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(fail_rate=0.0, fail_with="http500")
    assert all(send(client).status_code == 200 for _ in range(5))
    emulator.set_faults(fail_rate=1.0, fail_with="http500")
    assert all(send(client).status_code == 500 for _ in range(5))


def test_latency_delays_the_answer(client: httpx.Client, emulator: Emulator) -> None:
    emulator.set_faults(latency_ms=200)
    started = time.monotonic()
    assert send(client).json()["code"] == 0
    assert time.monotonic() - started >= 0.19


def test_a_send_answered_too_late_for_the_client_is_still_recorded(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(latency_ms=400)
    with pytest.raises(httpx.ReadTimeout):
        send(client, timeout=0.1)
    assert len(emulator.messages()) == 1  # maybe delivered: the client cannot tell


def test_a_hang_never_answers_until_the_client_gives_up_and_blocks_nobody_else(
    emulator: Emulator,
) -> None:
    emulator.set_faults(script=["hang"])
    errors: list[Exception] = []

    def hang() -> None:
        with httpx.Client(base_url=emulator.production_url) as client:
            try:
                send(client, timeout=0.5)
            except Exception as exc:  # collected for the assertion below
                errors.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.1)
    with httpx.Client(base_url=emulator.production_url) as other:
        assert send(other).json()["code"] == 0  # served while the first request hangs
    thread.join(5)
    assert len(errors) == 1 and isinstance(errors[0], httpx.ReadTimeout)
    assert emulator.stats()["by_fault"] == {"hang": 1}


def test_a_reset_closes_the_connection_mid_response(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["reset"])
    with pytest.raises(httpx.TransportError) as caught:
        send(client)
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert send(client).json()["code"] == 0  # the client recovers on a fresh connection


def test_a_script_is_consumed_one_entry_per_send_in_order(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(
        script=["http500", "10002", "ok", "10027", "200001"], fail_rate=1.0, fail_with="http502"
    )
    outcomes = [send(client) for _ in range(6)]
    assert [r.status_code for r in outcomes] == [500, 200, 200, 200, 200, 502]
    assert [r.json()["code"] for r in outcomes[1:5]] == [10002, 0, 10027, 200001]
    assert emulator.faults().script == ()


def test_the_script_counts_every_attempt_including_refused_ones(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["10002", "10002"])
    client.post("/v3/message/alias", data={"alias": "a"}, headers={"Authorization": "key=wrong"})
    send(client)
    assert send(client).json()["code"] == 0
    assert emulator.stats()["by_code"] == {"10002": 2, "0": 1}


def test_faults_limited_to_one_environment_leave_the_other_alone(
    client: httpx.Client, sandbox: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(fail_rate=1.0, fail_with="10002", environment="sandbox")
    assert send(client).json()["code"] == 0
    ios = sandbox.post("/v3/message/alias", data={**ios_message(), "alias": "a"}, headers=IOS_AUTH)
    assert ios.json()["code"] == 10002


def test_faults_limited_to_one_target_only_hit_sends_naming_it(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["10002"], target="doomed")
    assert send(client, "fine").json()["code"] == 0
    assert send(client, "fine,doomed").json()["code"] == 10002


def test_faults_given_at_construction_apply_from_the_first_request(emulator: Emulator) -> None:
    with (
        Emulator(apps=emulator.apps, faults=Faults(script=("10027",))) as other,
        httpx.Client(base_url=other.production_url) as client,
    ):
        assert send(client).json()["code"] == 10027


def test_unknown_fault_kinds_are_refused_when_set() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Faults(script=("teapot",))
    with pytest.raises(ValueError, match="fail_rate"):
        Faults(fail_rate=1.5)


def test_a_script_entry_fails_one_whole_multi_request_and_records_none_of_its_items(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["10002", "http500"])
    items = [multi_item(f"a{i}") for i in range(5)]
    assert post_multi(client, items).json()["code"] == 10002
    assert post_multi(client, items).status_code == 500
    assert emulator.messages() == []
    accepted = post_multi(client, items).json()
    assert accepted["code"] == 0
    assert [m["message_id"] for m in emulator.messages()] == [accepted["data"]["id"]] * 5
    assert emulator.stats()["by_fault"] == {"10002": 1, "http500": 1}


def test_a_target_scoped_fault_refuses_every_multi_request_naming_it_until_it_is_alone(
    client: httpx.Client, emulator: Emulator
) -> None:
    # How a test makes one message "bad": every request carrying it is refused whole, so a
    # sender that halves refused batches ends with that one message alone, still refused.
    emulator.set_faults(fail_rate=1.0, fail_with="65011", target="bad")
    codes = {
        names: post_multi(client, [multi_item(n) for n in names.split()]).json()["code"]
        for names in ("a b bad c", "a b", "bad c", "bad", "c")
    }
    assert codes == {"a b bad c": 65011, "a b": 0, "bad c": 65011, "bad": 65011, "c": 0}
    assert sorted(t for m in emulator.messages() for t in m["targets"]) == ["a", "b", "c"]


def test_a_script_scoped_to_a_target_is_consumed_only_by_multi_requests_naming_it(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["10003"], target="x")
    assert post_multi(client, [multi_item("a"), multi_item("b")]).json()["code"] == 0
    assert post_multi(client, [multi_item("a"), multi_item("x")]).json()["code"] == 10003
    assert post_multi(client, [multi_item("a"), multi_item("x")]).json()["code"] == 0


def test_latency_applies_once_per_multi_request_which_is_recorded_whole_even_if_too_late(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(latency_ms=400)
    with pytest.raises(httpx.ReadTimeout):
        post_multi(client, [multi_item(f"a{i}") for i in range(3)], timeout=0.1)
    wait_for(lambda: len(emulator.messages()) == 3, 5, message="the late batch recorded")
    assert len({m["message_id"] for m in emulator.messages()}) == 1


def test_the_quota_fault_on_a_multi_request_drops_every_item_and_counts_them_per_channel(
    client: httpx.Client, emulator: Emulator
) -> None:
    # Xiaomi's multi endpoints never answer 200001 (mipush-api.md §4.1, DOC-LIMIT): code 0,
    # and data.channel_exceed_quota counts the messages dropped, per channel id.
    emulator.set_faults(script=["200001"])
    orders = {"notify_effect": "1", "channel_id": "orders"}
    items = [multi_item("a"), multi_item("b", extra=orders), multi_item("c", extra=orders)]
    body = post_multi(client, items).json()
    assert (body["result"], body["code"]) == ("ok", 0)
    assert body["data"]["channel_exceed_quota"] == "no_channel:1 orders:2"
    assert body["data"]["id"].startswith("a")
    assert emulator.messages() == []
    assert emulator.stats()["by_fault"] == {"200001": 1}
