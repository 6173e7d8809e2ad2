"""The /_emulator admin routes: faults, messages, requests, stats and reset."""

from __future__ import annotations

import httpx

from pushworker.emulator import Emulator
from tests.integration.emulator.emulator_support import ANDROID_APP, ANDROID_AUTH, android_message


def test_faults_can_be_read_and_replaced_over_http(client: httpx.Client) -> None:
    assert client.get("/_emulator/faults").json() == {
        "latency_ms": 0.0,
        "fail_rate": 0.0,
        "fail_with": "http500",
        "script": [],
        "environment": None,
        "target": None,
    }
    posted = client.post("/_emulator/faults", json={"script": ["10002", "ok"], "latency_ms": 5})
    assert posted.status_code == 200
    assert posted.json()["script"] == ["10002", "ok"]
    client.post("/v3/message/alias", data={**android_message(), "alias": "a"}, headers=ANDROID_AUTH)
    assert client.get("/_emulator/faults").json()["script"] == ["ok"]
    assert client.post("/_emulator/faults", json={}).json()["latency_ms"] == 0  # POST replaces


def test_bad_fault_settings_are_refused_with_400_naming_the_problem(client: httpx.Client) -> None:
    for body in ({"fail_with": "teapot"}, {"colour": "red"}, {"fail_rate": "high"}, [1]):
        response = client.post("/_emulator/faults", json=body)
        assert response.status_code == 400
        assert response.json()["error"]


def test_messages_lists_every_accepted_send_with_its_context(client: httpx.Client) -> None:
    fields = android_message(**{"extra.intent_uri": "x://1"})
    sent = client.post(
        "/v2/message/alias", data={**fields, "alias": "a1,a2"}, headers=ANDROID_AUTH
    ).json()
    client.post(
        "/v2/message/alias", data={"alias": "a1"}, headers=ANDROID_AUTH
    )  # refused: not listed
    [message] = client.get("/_emulator/messages").json()["messages"]
    assert message["environment"] == "production"
    assert (message["package"], message["platform"]) == (ANDROID_APP.package, "android")
    assert (message["path"], message["target_type"]) == ("/v2/message/alias", "alias")
    assert message["targets"] == ["a1", "a2"]
    assert message["fields"] == fields
    assert message["message_id"] == sent["data"]["id"]
    assert message["trace_id"] == sent["trace_id"]
    assert isinstance(message["received_at"], float)


def test_stats_and_requests_count_every_attempt_by_outcome(
    client: httpx.Client, emulator: Emulator
) -> None:
    emulator.set_faults(script=["http500"])
    for headers in (ANDROID_AUTH, ANDROID_AUTH, {"Authorization": "key=nope"}):
        client.post("/v3/message/alias", data={**android_message(), "alias": "a"}, headers=headers)
    stats = client.get("/_emulator/stats").json()
    assert stats["requests"] == 3
    assert stats["by_outcome"] == {"fault": 1, "ok": 1, "error": 1}
    assert stats["by_code"] == {"0": 1, "21301": 1}
    assert stats["by_fault"] == {"http500": 1}
    assert stats["messages"] == 1
    requests = client.get("/_emulator/requests").json()["requests"]
    assert [(r["outcome"], r["http_status"]) for r in requests] == [
        ("fault", 500),
        ("ok", 200),
        ("error", 200),
    ]
    assert emulator.stats() == stats


def test_reset_clears_messages_counters_and_faults(
    client: httpx.Client, emulator: Emulator
) -> None:
    client.post("/v3/message/alias", data={**android_message(), "alias": "a"}, headers=ANDROID_AUTH)
    client.post("/_emulator/faults", json={"fail_rate": 1})
    assert client.post("/_emulator/reset").status_code == 200
    assert emulator.messages() == [] and emulator.requests() == []
    assert emulator.stats()["requests"] == 0
    assert client.get("/_emulator/faults").json()["fail_rate"] == 0


def test_admin_routes_are_served_on_the_sandbox_port_too(sandbox: httpx.Client) -> None:
    assert sandbox.get("/_emulator/messages").json() == {"messages": []}


def test_a_nested_or_invalid_json_body_is_refused_with_400_not_500(client: httpx.Client) -> None:
    for body in (
        b"[" * 100_000,
        b'{"script": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"{",
        b"\xff\xfe\x00",
    ):
        response = client.post("/_emulator/faults", content=body)
        assert response.status_code == 400, body[:20]
        assert response.json()["error"]
    assert client.get("/_emulator/faults").json()["script"] == []  # nothing was applied


def test_a_deeply_nested_multi_message_body_is_a_xiaomi_error_not_a_500(
    client: httpx.Client,
) -> None:
    response = client.post(
        "/v2/multi_messages/aliases", data={"messages": "[" * 100_000}, headers=ANDROID_AUTH
    )
    assert response.status_code == 200
    assert response.json()["code"] == 10017
