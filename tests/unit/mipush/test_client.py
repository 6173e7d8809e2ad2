"""Specifies the Client over httpx.MockTransport: wire form, chunking, errors, secrecy, pooling."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from pushworker.mipush import (
    DEFAULT_TIMEOUT,
    BadRequestError,
    Client,
    ConfigurationError,
    Endpoints,
    Environment,
    InvalidMessageError,
    InvalidTargetError,
    Message,
    MessageTypeError,
    MiPushError,
    QuotaExceededError,
    SendResult,
    ThrottledError,
    TransientError,
)
from pushworker.mipush import client as client_module

SECRET = "s3cr3t-app-secret"
FIELDS = (
    Message()
    .restricted_package_name("com.example.shop")
    .title("标题")
    .description("d")
    .extra({"type": 2})
    .android_fields()
)
OK = {
    "result": "ok",
    "code": 0,
    "description": "成功",
    "info": "Received push messages for 1 ALIAS",
    "trace_id": "Xdm03290562213241158in",
    "data": {"id": "adm03290562213241161sM"},
}


class Recorder:
    """A MockTransport handler that records requests and answers from a list (last one repeats)."""

    def __init__(self, *answers: Any) -> None:
        self.requests: list[httpx.Request] = []
        self.answers = list(answers) or [OK]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def form(self, index: int = -1) -> dict[str, str]:
        parsed = parse_qs(self.requests[index].content.decode("ascii"), keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}


def make(*answers: Any, **kwargs: Any) -> tuple[Client, Recorder]:
    recorder = Recorder(*answers)
    return Client(SECRET, transport=httpx.MockTransport(recorder), **kwargs), recorder


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("send_to_alias", "/v3/message/alias", "alias"),
        ("send_to_regid", "/v3/message/regid", "registration_id"),
        ("send_to_user_account", "/v2/message/user_account", "user_account"),
    ],
)
def test_each_target_type_posts_the_form_to_its_path(method: str, path: str, field: str) -> None:
    client, recorder = make()
    results = getattr(client, method)(FIELDS, ["t1", "t2"])
    request = recorder.requests[0]
    assert (request.method, request.url.host, request.url.path) == (
        "POST",
        "api.xmpush.xiaomi.com",
        path,
    )
    assert recorder.form() == {**FIELDS, field: "t1,t2"}
    assert results == [
        SendResult(
            "adm03290562213241161sM",
            "Xdm03290562213241158in",
            "Received push messages for 1 ALIAS",
            "成功",
            200,
        )
    ]


def test_requests_carry_the_key_header_and_the_form_content_type() -> None:
    client, recorder = make()
    client.send_to_alias(FIELDS, "a")
    headers = recorder.requests[0].headers
    assert headers["authorization"] == f"key={SECRET}"
    assert headers["content-type"] == "application/x-www-form-urlencoded;charset=UTF-8"
    assert b"title=%E6%A0%87%E9%A2%98" in recorder.requests[0].content


def test_the_sandbox_environment_uses_the_sandbox_host() -> None:
    client, recorder = make()
    client.send_to_alias(FIELDS, "a", environment=Environment.SANDBOX)
    client.send_to_alias(FIELDS, "a")
    assert [r.url.host for r in recorder.requests] == [
        "sandbox.xmpush.xiaomi.com",
        "api.xmpush.xiaomi.com",
    ]


def test_a_base_url_override_is_just_endpoints() -> None:
    endpoints = Endpoints(production="http://127.0.0.1:8080/", sandbox="http://127.0.0.1:8081")
    client, recorder = make(endpoints=endpoints)
    client.send_to_regid(FIELDS, "r", environment=Environment.SANDBOX)
    assert str(recorder.requests[0].url) == "http://127.0.0.1:8081/v3/message/regid"


def test_regional_presets_have_no_sandbox_and_refuse_it_before_any_request() -> None:
    assert Endpoints.europe().production == "https://fr-api.xmpush.global.xiaomi.com"
    assert Endpoints.china() == Endpoints()
    client, recorder = make(endpoints=Endpoints.singapore())
    with pytest.raises(ConfigurationError, match="sandbox"):
        client.send_to_alias(FIELDS, "a", environment=Environment.SANDBOX)
    assert recorder.requests == []


def test_2500_targets_go_out_in_three_requests_of_at_most_1000() -> None:
    client, recorder = make()
    aliases = [f"alias-{i}" for i in range(2500)]
    results = client.send_to_alias(FIELDS, aliases)
    sizes = [len(recorder.form(i)["alias"].split(",")) for i in range(3)]
    assert (len(results), sizes) == (3, [1000, 1000, 500])
    assert sum((recorder.form(i)["alias"].split(",") for i in range(3)), []) == aliases


def test_a_failed_chunk_raises_with_the_earlier_chunks_results() -> None:
    busy = {"result": "error", "code": 10002, "reason": "busy", "trace_id": "Xbusy"}
    client, recorder = make(OK, busy, OK)
    with pytest.raises(TransientError) as info:
        client.send_to_alias(FIELDS, [f"a{i}" for i in range(2500)])
    assert len(recorder.requests) == 2
    assert [r.message_id for r in info.value.completed] == ["adm03290562213241161sM"]


@pytest.mark.parametrize(
    ("targets", "error"),
    [
        ([], InvalidMessageError),
        (None, MessageTypeError),
        ([1], MessageTypeError),
        (["a", None], MessageTypeError),
        ([""], InvalidMessageError),
        (["  "], InvalidMessageError),
        (["a,b"], InvalidMessageError),
        ("a,b", InvalidMessageError),
        (b"a", MessageTypeError),
        ({"a": 1}, MessageTypeError),
        (["a\n"], InvalidMessageError),
    ],
)
def test_bad_targets_are_refused_before_any_request(
    targets: Any, error: type[InvalidMessageError]
) -> None:
    client, recorder = make()
    with pytest.raises(error) as info:
        client.send_to_alias(FIELDS, targets)
    assert info.value.field.startswith("alias")
    assert recorder.requests == []


@pytest.mark.parametrize("fields", [{}, None, {"title": 1}, {"alias": "x", "title": "t"}])
def test_bad_fields_are_refused_before_any_request(fields: Any) -> None:
    client, recorder = make()
    with pytest.raises(InvalidMessageError):
        client.send_to_alias(fields, "a")
    assert recorder.requests == []


def test_passing_a_message_instead_of_its_fields_says_what_to_call() -> None:
    client, _ = make()
    with pytest.raises(MessageTypeError, match="android_fields"):
        client.send_to_alias(Message().description("d"), "a")  # type: ignore[arg-type]


def test_send_multi_posts_json_messages_with_nested_extras_and_time_to_send_zero() -> None:
    client, recorder = make()
    ios = Message().description("d").badge(1).aps_title("T").ios_fields()
    client.send_multi([("r1", FIELDS), ("r2", ios)], target_type="regid")
    assert recorder.requests[0].url.path == "/v2/multi_messages/regids"
    form = recorder.form()
    assert form["time_to_send"] == "0"
    assert json.loads(form["messages"]) == [
        {
            "target": "r1",
            "message": {
                "restricted_package_name": "com.example.shop",
                "title": "标题",
                "description": "d",
                "extra": {"type": "2"},
            },
        },
        {
            "target": "r2",
            "message": {
                "description": "d",
                "extra": {"badge": "1"},
                "aps_proper_fields": {"title": "T"},
            },
        },
    ]


def test_send_multi_chunks_more_than_1000_items() -> None:
    client, recorder = make()
    results = client.send_multi([(f"a{i}", FIELDS) for i in range(1001)], target_type="alias")
    assert len(results) == 2
    assert [len(json.loads(recorder.form(i)["messages"])) for i in range(2)] == [1000, 1]
    assert recorder.requests[0].url.path == "/v2/multi_messages/aliases"


def test_send_multi_chunk_failure_carries_the_completed_chunks() -> None:
    busy = {"result": "error", "code": 10002, "reason": "busy", "trace_id": "Xbusy"}
    client, recorder = make(OK, busy)
    with pytest.raises(TransientError) as info:
        client.send_multi([(f"a{i}", FIELDS) for i in range(2001)], target_type="alias")
    assert len(recorder.requests) == 2
    assert [r.message_id for r in info.value.completed] == ["adm03290562213241161sM"]


@pytest.mark.parametrize(
    ("exceeded", "raw", "dropped"),
    [
        ("no_channel:2 a:3", "no_channel:2 a:3", 5),
        ("", None, 0),
        ("a:x", "a:x", None),
    ],
)
def test_send_multi_reports_messages_dropped_over_quota(
    exceeded: str, raw: str | None, dropped: int | None
) -> None:
    answer = {**OK, "data": {"id": "adm1", "channel_exceed_quota": exceeded}}
    client, _ = make(answer)
    [result] = client.send_multi([("a", FIELDS)], target_type="alias")
    assert (result.channel_exceed_quota, result.quota_dropped) == (raw, dropped)


def test_send_multi_refuses_an_unknown_target_type_before_any_request() -> None:
    client, recorder = make()
    with pytest.raises(InvalidMessageError, match="target_type: must be one of alias, regid"):
        client.send_multi([("t", FIELDS)], target_type="topic")
    assert recorder.requests == []


@pytest.mark.parametrize("items", [[], [("a", FIELDS, 1)], [("a,b", FIELDS)], "ab", None])
def test_send_multi_refuses_bad_items_before_any_request(items: Any) -> None:
    client, recorder = make()
    with pytest.raises(InvalidMessageError):
        client.send_multi(items, target_type="alias")
    assert recorder.requests == []


def test_message_status_gets_the_trace_record() -> None:
    record = {"id": "adm1", "delivered": 1, "click": 0}
    client, recorder = make({"result": "ok", "code": 0, "data": {"data": record}})
    assert client.message_status("adm1") == record
    request = recorder.requests[0]
    assert (request.method, request.url.path, request.url.params["msg_id"]) == (
        "GET",
        "/v1/trace/message/status",
        "adm1",
    )


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (20301, InvalidTargetError),
        (21301, ConfigurationError),
        (10027, ThrottledError),
        (200001, QuotaExceededError),
        (10002, TransientError),
        (65011, BadRequestError),
        (424242, BadRequestError),
    ],
)
def test_a_nonzero_code_raises_its_typed_error_with_the_body_details(
    code: int, cls: type[MiPushError]
) -> None:
    body = {
        "result": "error",
        "code": code,
        "reason": "why",
        "description": "描述",
        "trace_id": "Xtrace",
    }
    client, _ = make(body)
    with pytest.raises(cls) as info:
        client.send_to_alias(FIELDS, "a")
    error = info.value
    assert type(error) is cls
    assert (
        error.code,
        error.reason,
        error.description,
        error.trace_id,
        error.http_status,
        error.maybe_delivered,
    ) == (code, "why", "描述", "Xtrace", 200, False)


def test_a_string_code_is_read_as_a_number() -> None:
    client, _ = make({"result": "error", "code": "21301"})
    with pytest.raises(ConfigurationError):
        client.send_to_alias(FIELDS, "a")


@pytest.mark.parametrize(
    ("status", "maybe_delivered"),
    [
        (500, True),
        (502, False),
        (503, False),
        (504, True),
    ],
)
def test_http_5xx_is_transient_and_maybe_delivered_except_502_and_503(
    status: int, maybe_delivered: bool
) -> None:
    client, _ = make(httpx.Response(status, text="<html>oops</html>"))
    with pytest.raises(TransientError) as info:
        client.send_to_alias(FIELDS, "a")
    assert (info.value.http_status, info.value.maybe_delivered) == (status, maybe_delivered)
    assert not isinstance(info.value, ThrottledError)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"result": "ok"}', b""])
def test_a_2xx_body_that_is_not_a_xiaomi_object_is_transient_and_maybe_delivered(
    body: bytes,
) -> None:
    client, _ = make(httpx.Response(200, content=body))
    with pytest.raises(TransientError) as info:
        client.send_to_alias(FIELDS, "a")
    assert info.value.maybe_delivered is True


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, ConfigurationError),
        (401, ConfigurationError),
        (301, ConfigurationError),
        (429, ThrottledError),
        (400, BadRequestError),
    ],
)
def test_other_statuses_without_a_code_map_by_status(status: int, cls: type[MiPushError]) -> None:
    client, _ = make(httpx.Response(status, text="nope"))
    with pytest.raises(cls) as info:
        client.send_to_alias(FIELDS, "a")
    assert info.value.maybe_delivered is False


@pytest.mark.parametrize(
    ("exc", "maybe_delivered"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow"), False),
        (httpx.ReadTimeout("slow"), True),
        (httpx.ReadError("reset by peer"), True),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True),
    ],
)
def test_network_failures_are_transient_errors_chained_to_the_httpx_error(
    exc: Exception, maybe_delivered: bool
) -> None:
    client, _ = make(exc)
    with pytest.raises(TransientError) as info:
        client.send_to_alias(FIELDS, "a")
    assert info.value.maybe_delivered is maybe_delivered
    assert info.value.__cause__ is exc


def _errors_for_every_path() -> list[MiPushError]:
    answers: list[Any] = [
        {"result": "error", "code": 21301, "reason": "Invalid application secret."},
        httpx.Response(500, text="x"),
        httpx.Response(200, text="x"),
        httpx.ReadTimeout("t"),
        httpx.ConnectError("c"),
    ]
    errors = []
    for answer in answers:
        client, _ = make(answer)
        with pytest.raises(MiPushError) as info:
            client.send_to_alias(FIELDS, "a")
        errors.append(info.value)
    return errors


def test_the_secret_appears_in_no_repr_and_no_error_text() -> None:
    client, _ = make()
    assert SECRET not in repr(client) and "***" in repr(client)
    for error in _errors_for_every_path():
        texts = [str(error), repr(error), repr(error.args), str(pickle.loads(pickle.dumps(error)))]
        if error.__cause__ is not None:
            texts += [str(error.__cause__), repr(error.__cause__)]
        assert not any(SECRET in text for text in texts)


def test_the_secret_and_targets_appear_in_no_log_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pushworker.mipush")
    client, _ = make()
    client.send_to_alias(FIELDS, "QQC_42")
    _errors_for_every_path()
    assert caplog.records
    for record in caplog.records:
        rendered = record.getMessage() + repr(record.__dict__)
        assert SECRET not in rendered and "QQC_42" not in rendered


def test_successes_log_at_debug_with_structured_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pushworker.mipush")
    client, _ = make()
    client.send_to_alias(FIELDS, ["a", "b"])
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    fields = record.__dict__
    assert (
        fields["mipush_path"],
        fields["mipush_environment"],
        fields["mipush_targets"],
        fields["mipush_code"],
        fields["mipush_trace_id"],
    ) == ("/v3/message/alias", "production", 2, 0, "Xdm03290562213241158in")


def test_failures_log_a_warning_with_code_and_category(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pushworker.mipush")
    client, _ = make({"result": "error", "code": 424242, "trace_id": "Xt"})
    with pytest.raises(BadRequestError):
        client.send_to_alias(FIELDS, "a")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert (record.__dict__["mipush_code"], record.__dict__["mipush_category"]) == (
        424242,
        "bad_request",
    )
    assert "not in the table" in record.getMessage()


def test_one_pool_is_reused_and_a_new_one_is_made_after_a_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[httpx.Client] = []
    real = httpx.Client

    def counting(*args: Any, **kwargs: Any) -> httpx.Client:
        created.append(real(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(client_module.httpx, "Client", counting)
    client, recorder = make()
    assert created == []  # lazy: nothing before the first request
    client.send_to_alias(FIELDS, "a")
    client.send_to_alias(FIELDS, "b")
    assert len(created) == 1
    monkeypatch.setattr(client_module.os, "getpid", lambda: -1)
    client.send_to_alias(FIELDS, "c")
    assert len(created) == 2 and len(recorder.requests) == 3


def test_default_timeouts_are_3s_connect_and_5s_read() -> None:
    assert (DEFAULT_TIMEOUT.connect, DEFAULT_TIMEOUT.read) == (3.0, 5.0)
    client, _ = make()
    assert client._pool().timeout == DEFAULT_TIMEOUT


@pytest.mark.parametrize(
    ("secret", "error"),
    [
        ("", ValueError),
        ("with space", ValueError),
        ("new\nline", ValueError),
        (None, TypeError),
        ("秘密", ValueError),
    ],
)
def test_an_unusable_secret_is_refused_without_echoing_it(secret: Any, error: type) -> None:
    with pytest.raises(error) as info:
        Client(secret)
    assert not secret or secret not in str(info.value)


def test_closing_the_client_closes_the_pool_and_the_next_request_opens_a_new_one() -> None:
    client, recorder = make()
    with client:
        client.send_to_alias(FIELDS, "a")
        first = client._pool()
    assert first.is_closed
    client.send_to_alias(FIELDS, "b")
    assert client._pool() is not first
