"""Drives the real MiPush client against the real emulator over loopback HTTP."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pushworker.emulator import Emulator
from pushworker.mipush import (
    BadRequestError,
    Client,
    ConfigurationError,
    Endpoints,
    Environment,
    InvalidTargetError,
    Message,
    MiPushError,
    QuotaExceededError,
    ThrottledError,
    TransientError,
    compat,
)
from tests.support.emulator import ANDROID_APP as ANDROID  # the shared emulator's apps
from tests.support.emulator import IOS_APP as IOS

TITLE = "您有一条新消息~"
DESCRIPTION = "【小明】刚刚浏览了您的商品【茶杯】~"


@pytest.fixture
def emulator(fresh_emulator: Emulator) -> Emulator:
    return fresh_emulator


def endpoints(emulator: Emulator) -> Endpoints:
    return Endpoints(production=emulator.production_url, sandbox=emulator.sandbox_url)


@pytest.fixture
def android(emulator: Emulator) -> Iterator[Client]:
    with Client(ANDROID.secret, endpoints=endpoints(emulator)) as client:
        yield client


@pytest.fixture
def ios(emulator: Emulator) -> Iterator[Client]:
    with Client(IOS.secret, endpoints=endpoints(emulator)) as client:
        yield client


def android_fields() -> dict[str, str]:
    return (
        Message()
        .restricted_package_name(ANDROID.package)
        .title(TITLE)
        .description(DESCRIPTION)
        .pass_through(0)
        .payload("")
        .extra({"type": 2})
        .android_fields()
    )


@pytest.mark.parametrize(
    ("method", "target_type", "prefix", "label"),
    [
        ("send_to_alias", "alias", "a", "ALIAS"),
        ("send_to_regid", "regid", "s", "REGID"),
        ("send_to_user_account", "user_account", "u", "USER_ACCOUNT"),
    ],
)
def test_each_target_type_is_accepted_and_recorded(
    emulator: Emulator, android: Client, method: str, target_type: str, prefix: str, label: str
) -> None:
    [result] = getattr(android, method)(android_fields(), ["t-1", "t-2"])
    assert result.message_id is not None and result.message_id.startswith(prefix)
    assert result.info == f"Received push messages for 2 {label}"
    assert result.trace_id and result.trace_id.startswith("X")
    assert (result.description, result.http_status) == ("成功", 200)
    [record] = emulator.messages()
    assert (
        record["environment"],
        record["target_type"],
        record["targets"],
        record["message_id"],
    ) == ("production", target_type, ["t-1", "t-2"], result.message_id)


def test_an_android_message_arrives_with_the_documented_field_names(
    emulator: Emulator, android: Client
) -> None:
    fields = (
        Message()
        .restricted_package_name(ANDROID.package)
        .title(TITLE)
        .description(DESCRIPTION)
        .pass_through(0)
        .payload("")
        .notify_type(-1)
        .notify_id(7)
        .time_to_live(86_400_000)
        .extra({"type": 2, "notify_effect": "1"})
        .channel_id("orders")
        .badge(1)
        .android_fields()
    )
    android.send_to_alias(fields, "QQC_42")
    [record] = emulator.messages()
    assert record["fields"] == {
        "restricted_package_name": "com.example.shop",
        "title": TITLE,
        "description": DESCRIPTION,
        "pass_through": "0",
        "payload": "",
        "notify_type": "-1",
        "notify_id": "7",
        "time_to_live": "86400000",
        "extra.type": "2",
        "extra.notify_effect": "1",
        "extra.channel_id": "orders",
    }
    assert (record["package"], record["platform"]) == ("com.example.shop", "android")


def test_an_ios_message_goes_to_the_sandbox_host_with_the_documented_field_names(
    emulator: Emulator, ios: Client
) -> None:
    fields = (
        Message()
        .restricted_package_name(IOS.package)
        .description(DESCRIPTION)
        .badge(1)
        .sound_url("default")
        .extra({"type": 2})
        .aps_title(TITLE)
        .aps_body(DESCRIPTION)
        .ios_fields()
    )
    ios.send_to_alias(fields, "QQC_42", environment=Environment.SANDBOX)
    [record] = emulator.messages()
    assert record["environment"] == "sandbox"
    assert record["fields"] == {
        "restricted_package_name": "com.example.shop.ios",
        "description": DESCRIPTION,
        "extra.type": "2",
        "extra.badge": "1",
        "extra.sound_url": "default",
        "aps_proper_fields.title": TITLE,
        "aps_proper_fields.body": DESCRIPTION,
    }


def test_production_is_the_default_and_sandbox_is_chosen_per_request(
    emulator: Emulator, ios: Client
) -> None:
    fields = Message().description("d").ios_fields()
    ios.send_to_alias(fields, "a")
    ios.send_to_alias(fields, "a", environment=Environment.SANDBOX)
    ios.send_to_alias(fields, "a")
    assert [m["environment"] for m in emulator.messages()] == [
        "production",
        "sandbox",
        "production",
    ]


def test_an_android_app_on_the_sandbox_host_is_a_configuration_error(android: Client) -> None:
    with pytest.raises(ConfigurationError) as info:
        android.send_to_alias(android_fields(), "a", environment=Environment.SANDBOX)
    assert info.value.code == 22000


def test_2500_aliases_take_three_requests(emulator: Emulator, android: Client) -> None:
    aliases = [f"alias-{i}" for i in range(2500)]
    results = android.send_to_alias(android_fields(), aliases)
    assert len(results) == 3 and len({r.message_id for r in results}) == 3
    assert [len(m["targets"]) for m in emulator.messages()] == [1000, 1000, 500]
    assert sum((m["targets"] for m in emulator.messages()), []) == aliases
    assert len(emulator.requests()) == 3


def test_a_chunk_failing_midway_reports_the_chunks_already_sent(
    emulator: Emulator, android: Client
) -> None:
    emulator.set_faults(script=("ok", "http500"))
    with pytest.raises(TransientError) as info:
        android.send_to_alias(android_fields(), [f"a{i}" for i in range(2500)])
    assert len(info.value.completed) == 1
    assert info.value.completed[0].message_id == emulator.messages()[0]["message_id"]
    assert len(emulator.requests()) == 2


def test_send_multi_delivers_one_message_per_target(emulator: Emulator, android: Client) -> None:
    other = {**android_fields(), "title": "另一条"}
    [result] = android.send_multi([("a1", android_fields()), ("a2", other)], target_type="alias")
    records = emulator.messages()
    assert [(r["targets"], r["fields"]["title"]) for r in records] == [
        (["a1"], TITLE),
        (["a2"], "另一条"),
    ]
    assert records[0]["fields"]["extra.type"] == "2"
    assert result.message_id == records[0]["message_id"]


def test_message_status_finds_a_sent_message(android: Client) -> None:
    [result] = android.send_to_alias(android_fields(), ["a", "b"])
    assert result.message_id is not None
    status = android.message_status(result.message_id)
    assert status["id"] == result.message_id and status["delivered"] == 2


def test_a_wrong_secret_is_a_configuration_error_that_never_shows_the_secret(
    emulator: Emulator,
) -> None:
    with (
        Client("not-the-secret", endpoints=endpoints(emulator)) as client,
        pytest.raises(ConfigurationError) as info,
    ):
        client.send_to_alias(android_fields(), "a")
    assert (info.value.code, info.value.http_status) == (21301, 200)
    assert "not-the-secret" not in str(info.value) + repr(info.value)


def test_an_unknown_alias_is_an_invalid_target(emulator: Emulator, android: Client) -> None:
    emulator.set_known_targets({"known"})
    with pytest.raises(InvalidTargetError) as info:
        android.send_to_alias(android_fields(), "unknown")
    assert info.value.code == 20301 and info.value.trace_id


def test_a_request_the_server_refuses_as_malformed_is_a_bad_request(android: Client) -> None:
    fields = {**android_fields(), "title": "x" * 60}  # bypasses Message's own check
    with pytest.raises(BadRequestError) as info:
        android.send_to_alias(fields, "a")
    assert info.value.code == 65009


@pytest.mark.parametrize(
    ("fault", "cls", "code"),
    [
        ("10002", TransientError, 10002),
        ("10027", ThrottledError, 10027),
        ("200001", QuotaExceededError, 200001),
    ],
)
def test_injected_xiaomi_codes_raise_their_category(
    emulator: Emulator,
    android: Client,
    fault: str,
    cls: type[MiPushError],
    code: int,
) -> None:
    emulator.set_faults(script=(fault,))
    with pytest.raises(cls) as info:
        android.send_to_alias(android_fields(), "a")
    assert type(info.value) is cls and info.value.code == code
    assert info.value.maybe_delivered is False
    android.send_to_alias(android_fields(), "a")  # the script is used up: the next one passes


@pytest.mark.parametrize(("fault", "maybe_delivered"), [("http500", True), ("http503", False)])
def test_http_5xx_is_transient(
    emulator: Emulator, android: Client, fault: str, maybe_delivered: bool
) -> None:
    emulator.set_faults(script=(fault,))
    with pytest.raises(TransientError) as info:
        android.send_to_alias(android_fields(), "a")
    assert info.value.http_status == int(fault[4:])
    assert info.value.maybe_delivered is maybe_delivered


def test_a_hung_server_hits_the_read_timeout_and_may_have_delivered(emulator: Emulator) -> None:
    emulator.set_faults(script=("hang",))
    timeout = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0)
    with Client(ANDROID.secret, endpoints=endpoints(emulator), timeout=timeout) as client:
        started = time.monotonic()
        with pytest.raises(TransientError) as info:
            client.send_to_alias(android_fields(), "a")
        assert time.monotonic() - started < 2.0
        assert info.value.maybe_delivered is True
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)
        client.send_to_alias(android_fields(), "a")  # the pool recovers


def test_latency_below_the_read_timeout_still_succeeds(emulator: Emulator, android: Client) -> None:
    emulator.set_faults(latency_ms=200)
    [result] = android.send_to_alias(android_fields(), "a")
    assert result.message_id


def test_a_connection_reset_mid_response_is_transient_and_may_have_delivered(
    emulator: Emulator, android: Client
) -> None:
    emulator.set_faults(script=("reset",))
    with pytest.raises(TransientError) as info:
        android.send_to_alias(android_fields(), "a")
    assert info.value.maybe_delivered is True
    assert isinstance(info.value.__cause__, httpx.ReadError | httpx.RemoteProtocolError)
    android.send_to_alias(android_fields(), "a")  # a fresh connection works


def test_a_refused_connection_is_transient_and_certainly_not_delivered() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        Client(ANDROID.secret, endpoints=Endpoints(f"http://127.0.0.1:{port}")) as client,
        pytest.raises(TransientError) as info,
    ):
        client.send_to_alias(android_fields(), "a")
    assert info.value.maybe_delivered is False
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_a_forked_child_opens_its_own_pool_and_both_processes_keep_sending(
    emulator: Emulator, android: Client
) -> None:
    android.send_to_alias(android_fields(), "parent-before")
    parent_pool = android._pool()
    pid = os.fork()
    if pid == 0:  # the child, as in Celery prefork: same Client object, new process
        try:
            android.send_to_alias(android_fields(), "child")
            os._exit(0 if android._pool() is not parent_pool else 2)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    android.send_to_alias(android_fields(), "parent-after")
    assert android._pool() is parent_pool
    assert [m["targets"] for m in emulator.messages()] == [
        ["parent-before"],
        ["child"],
        ["parent-after"],
    ]


# The blog's two functions, with only their imports changed (placeholders filled in).
def push_to_android_user(alias_id: str, msg: tuple[str, str, dict[str, Any]]) -> Any:
    from pushworker.mipush.compat import APISender, Constants, PushMessage

    Constants.use_official()
    message = (
        PushMessage()
        .restricted_package_name(ANDROID.package)
        .title(msg[0])
        .description(msg[1])
        .pass_through(0)
        .payload("")
    )
    message.extra(msg[2])
    sender = APISender(ANDROID.secret)
    recv = sender.send_to_alias(message.message_dict(), alias_id)
    return recv


def push_to_ios_user(alias_id: str, msg: tuple[str, str, dict[str, Any]], mode: str) -> Any:
    from pushworker.mipush.compat import APISender, Constants, PushMessage

    if mode == "production":
        Constants.use_official()
    else:
        Constants.use_sandbox()
    message = PushMessage().description(msg[1]).restricted_package_name(IOS.package).badge(1)
    message.extra(msg[2])
    sender = APISender(IOS.secret)
    return sender.send_to_alias(message.message_dict_ios(), alias_id)


def test_the_blog_functions_run_against_the_emulator_through_the_bridge(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIPUSH_PRODUCTION_URL", emulator.production_url)
    monkeypatch.setenv("MIPUSH_SANDBOX_URL", emulator.sandbox_url)
    monkeypatch.setattr(compat, "_clients", {})
    msg = (TITLE, DESCRIPTION, {"type": 2})
    try:
        recv = push_to_android_user("QQC_42", msg)
        ios_recv = push_to_ios_user("QQC_42", msg, mode="development")
    finally:
        compat.Constants.use_official()
    assert recv["code"] == 0 and recv.info == "Received push messages for 1 ALIAS"
    assert recv.data["id"].startswith("a") and ios_recv.code == 0
    android_record, ios_record = emulator.messages()
    assert (android_record["environment"], android_record["fields"]["extra.type"]) == (
        "production",
        "2",
    )
    assert (ios_record["environment"], ios_record["fields"]["extra.badge"]) == ("sandbox", "1")
