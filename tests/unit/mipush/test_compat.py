"""Specifies the xmpush SDK bridge: the SDK's names and outputs, the global switch, retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pushworker.mipush import (
    ConfigurationError,
    Endpoints,
    InvalidMessageError,
    TransientError,
    compat,
)
from pushworker.mipush.compat import APISender, Constants, PushMessage

OK = {
    "result": "ok",
    "code": 0,
    "description": "成功",
    "info": "Received push messages for 1 ALIAS",
    "trace_id": "Xdm03290562213241158in",
    "data": {"id": "adm03290562213241161sM"},
}


class Server:
    """Answers from a list (the last answer repeats) and records requests."""

    def __init__(self) -> None:
        self.answers: list[Any] = [OK]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json=answer)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    fake = Server()
    sleeps: list[float] = []

    monkeypatch.delenv("MIPUSH_PRODUCTION_URL", raising=False)
    monkeypatch.delenv("MIPUSH_SANDBOX_URL", raising=False)
    monkeypatch.setattr(compat, "_transport", httpx.MockTransport(fake))
    monkeypatch.setattr(compat, "_clients", {})
    monkeypatch.setattr(compat, "_sleep", sleeps.append)
    fake.sleeps = sleeps  # type: ignore[attr-defined]
    yield fake
    Constants.use_official()


def android_message(msg: tuple[str, str, dict[str, Any]]) -> dict[str, str]:
    message = (
        PushMessage()
        .restricted_package_name("com.example.shop")
        .title(msg[0])
        .description(msg[1])
        .pass_through(0)
        .payload("")
    )
    message.extra(msg[2])
    return message.message_dict()


BLOG_MSG = ("您有一条新消息~", "【小明】刚刚浏览了您的商品【茶杯】~", {"type": 2})


def test_the_blog_android_function_runs_with_only_its_imports_changed(server: Server) -> None:
    Constants.use_official()
    recv = APISender("android-secret").send_to_alias(android_message(BLOG_MSG), "QQC_42")
    assert recv == OK
    assert recv.code == 0 and recv.data == {"id": "adm03290562213241161sM"}
    request = server.requests[0]
    assert (request.url.host, request.url.path) == ("api.xmpush.xiaomi.com", "/v3/message/alias")
    assert request.headers["authorization"] == "key=android-secret"


def test_use_sandbox_sends_to_the_sandbox_host_until_use_official(server: Server) -> None:
    ios = PushMessage().description(BLOG_MSG[1]).restricted_package_name("com.example.ios").badge(1)
    ios.extra(BLOG_MSG[2])
    Constants.use_sandbox()
    APISender("ios-secret").send_to_alias(ios.message_dict_ios(), "QQC_42")
    Constants.use_official()
    APISender("ios-secret").send_to_alias(ios.message_dict_ios(), "QQC_42")
    assert [r.url.host for r in server.requests] == [
        "sandbox.xmpush.xiaomi.com",
        "api.xmpush.xiaomi.com",
    ]


def test_hosts_come_from_the_environment_variables(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIPUSH_PRODUCTION_URL", "http://127.0.0.1:9001")
    monkeypatch.setenv("MIPUSH_SANDBOX_URL", "http://127.0.0.1:9002")
    sender = APISender("s")
    sender.send(android_message(BLOG_MSG), "regid-1")
    Constants.use_sandbox()
    sender.send_to_user_account(android_message(BLOG_MSG), "acct-1")
    assert [str(r.url) for r in server.requests] == [
        "http://127.0.0.1:9001/v3/message/regid",
        "http://127.0.0.1:9002/v2/message/user_account",
    ]


def test_one_client_per_secret_and_hosts_is_reused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIPUSH_PRODUCTION_URL", "http://127.0.0.1:9001")
    monkeypatch.delenv("MIPUSH_SANDBOX_URL", raising=False)
    first = compat._client_for("secret-a")
    assert first.endpoints == Endpoints("http://127.0.0.1:9001")
    assert compat._client_for("secret-a") is first
    assert compat._client_for("secret-b") is not first


def test_message_dict_is_a_new_validated_dict_and_sends_do_not_mutate_it(server: Server) -> None:
    message = PushMessage().restricted_package_name("com.x").title("t").description("d")
    fields = message.message_dict()
    assert fields is not message.message_dict()
    APISender("s").send_to_alias(fields, "a")
    assert "alias" not in fields
    with pytest.raises(InvalidMessageError, match="restricted_package_name"):
        PushMessage().title("t").description("d").message_dict()


def test_sdk_only_helpers_set_their_extras() -> None:
    message = (
        PushMessage()
        .description("d")
        .apns_only()
        .enable_flow_control()
        .restricted_package_names(["com.a", "com.b"])
    )
    assert message.message_dict_ios() == {
        "description": "d",
        "restricted_package_name": "com.a,com.b",
        "extra.flow_control": "1",
        "extra.ios_msg_channel": "1",
    }
    assert (
        PushMessage().description("d").connection_only().message_dict_ios()["extra.ios_msg_channel"]
        == "2"
    )


def test_a_hand_built_sdk_dict_with_ints_and_a_package_list_is_accepted(server: Server) -> None:
    APISender("s").send_to_alias(
        {
            "restricted_package_name": ["com.a"],
            "title": "t",
            "description": "d",
            "pass_through": 0,
            "extra.badge": 1,
        },
        "a",
    )
    assert b"pass_through=0" in server.requests[0].content
    assert b"restricted_package_name=com.a" in server.requests[0].content


def test_transient_failures_are_retried_retry_times_attempts_in_all(server: Server) -> None:
    busy = {"result": "error", "code": 10002, "reason": "busy"}
    server.answers = [busy, busy, busy]
    with pytest.raises(TransientError) as info:
        APISender("s").send_to_alias(android_message(BLOG_MSG), "a", retry_times=3)
    assert info.value.code == 10002
    assert len(server.requests) == 3
    assert server.sleeps == [1, 2]  # type: ignore[attr-defined]


def test_a_transient_failure_then_success_returns_the_success(server: Server) -> None:
    server.answers = [{"result": "error", "code": 10002}, OK]
    assert APISender("s").send_to_alias(android_message(BLOG_MSG), "a").code == 0


def test_a_possibly_delivered_failure_is_not_retried(server: Server) -> None:
    server.answers = [httpx.ReadTimeout("slow"), OK]
    with pytest.raises(TransientError):
        APISender("s").send_to_alias(android_message(BLOG_MSG), "a", retry_times=3)
    assert len(server.requests) == 1


def test_permanent_failures_are_raised_at_once_with_their_code(server: Server) -> None:
    server.answers = [{"result": "error", "code": 21301, "reason": "Invalid application secret."}]
    with pytest.raises(ConfigurationError) as info:
        APISender("s").send_to_alias(android_message(BLOG_MSG), "a")
    assert info.value.code == 21301 and len(server.requests) == 1


def test_more_than_1000_targets_are_refused_by_the_bridge(server: Server) -> None:
    with pytest.raises(InvalidMessageError, match="1000"):
        APISender("s").send_to_alias(android_message(BLOG_MSG), [f"a{i}" for i in range(1001)])
    assert server.requests == []


def test_the_sender_repr_hides_the_secret() -> None:
    assert "android-secret" not in repr(APISender("android-secret"))
