"""Specifies the error tree: its shape, pickling, and the translation of httpx errors."""

from __future__ import annotations

import pickle

import httpx
import pytest

from pushworker.mipush import (
    BadRequestError,
    Category,
    ConfigurationError,
    InvalidMessageError,
    InvalidTargetError,
    MessageTypeError,
    MiPushError,
    QuotaExceededError,
    SendResult,
    ThrottledError,
    TransientError,
)
from pushworker.mipush.auth import AppSecretAuth
from pushworker.mipush.errors import translated_transport_errors

SECRET = "s3cr3t-app-secret"
SCRUB = AppSecretAuth(SECRET).scrub
ALL = [
    TransientError,
    ThrottledError,
    QuotaExceededError,
    InvalidTargetError,
    ConfigurationError,
    BadRequestError,
]


def sample(cls: type[MiPushError]) -> MiPushError:
    return cls(
        "Xiaomi refused the request",
        20301,
        "No valid targets!",
        "发送消息失败",
        "Xcm07b77488763663927bm",
        200,
        False,
    )


def test_a_throttled_error_is_handled_as_a_transient_one() -> None:
    assert issubclass(ThrottledError, TransientError)
    assert ThrottledError.category is Category.THROTTLED


@pytest.mark.parametrize("cls", ALL)
def test_every_failure_class_is_a_mipush_error(cls: type[MiPushError]) -> None:
    assert issubclass(cls, MiPushError)


def test_local_validation_errors_are_value_errors_not_mipush_errors() -> None:
    assert issubclass(InvalidMessageError, ValueError)
    assert not issubclass(InvalidMessageError, MiPushError)
    assert issubclass(MessageTypeError, TypeError)


@pytest.mark.parametrize("cls", ALL)
def test_errors_survive_a_pickle_round_trip_with_every_attribute(cls: type[MiPushError]) -> None:
    error = sample(cls)
    error.completed = [SendResult("alm1", "Xlm1", "info", "成功", 200)]
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    for name in (
        "message",
        "code",
        "reason",
        "description",
        "trace_id",
        "http_status",
        "maybe_delivered",
        "completed",
        "category",
    ):
        assert getattr(copy, name) == getattr(error, name)
    assert str(copy) == str(error)


@pytest.mark.parametrize("cls", ALL)
def test_errors_rebuild_from_their_args_as_celery_does(cls: type[MiPushError]) -> None:
    error = sample(cls)
    rebuilt = cls(*error.args)
    assert (rebuilt.code, rebuilt.trace_id, rebuilt.reason) == (
        20301,
        error.trace_id,
        "No valid targets!",
    )


@pytest.mark.parametrize("cls", [InvalidMessageError, MessageTypeError])
def test_invalid_message_errors_pickle_and_rebuild_from_args(
    cls: type[InvalidMessageError],
) -> None:
    error = cls("title", "is too long")
    for copy in (pickle.loads(pickle.dumps(error)), cls(*error.args)):
        assert (type(copy), copy.field, copy.problem) == (cls, "title", "is too long")


def test_the_error_text_names_code_trace_and_reason() -> None:
    text = str(sample(InvalidTargetError))
    assert "20301" in text and "Xcm07b77488763663927bm" in text and "No valid targets!" in text


REQUEST = httpx.Request("POST", "https://api.xmpush.xiaomi.com/v3/message/alias")


@pytest.mark.parametrize(
    ("exc", "cls", "maybe_delivered"),
    [
        (httpx.ConnectTimeout("timed out", request=REQUEST), TransientError, False),
        (httpx.ConnectError("[Errno 111] refused", request=REQUEST), TransientError, False),
        (httpx.PoolTimeout("pool", request=REQUEST), TransientError, False),
        (httpx.WriteTimeout("write", request=REQUEST), TransientError, False),
        (httpx.WriteError("broken pipe", request=REQUEST), TransientError, False),
        (httpx.ReadTimeout("read", request=REQUEST), TransientError, True),
        (httpx.ReadError("reset by peer", request=REQUEST), TransientError, True),
        (httpx.RemoteProtocolError("disconnected", request=REQUEST), TransientError, True),
        (httpx.UnsupportedProtocol("ftp", request=REQUEST), ConfigurationError, False),
        (httpx.InvalidURL("bad url"), ConfigurationError, False),
        (httpx.LocalProtocolError("bad header", request=REQUEST), BadRequestError, False),
        (httpx.DecodingError("bad gzip", request=REQUEST), TransientError, True),
        (httpx.NetworkError("other", request=REQUEST), TransientError, True),
    ],
)
def test_httpx_errors_become_typed_errors_chained_with_from(
    exc: Exception, cls: type[MiPushError], maybe_delivered: bool
) -> None:
    with pytest.raises(MiPushError) as info, translated_transport_errors(scrub=SCRUB):
        raise exc
    assert type(info.value) is cls
    assert info.value.maybe_delivered is maybe_delivered
    assert info.value.__cause__ is exc
    assert info.value.code is None


def test_the_secret_is_scrubbed_from_translated_error_text() -> None:
    with pytest.raises(MiPushError) as info, translated_transport_errors(scrub=SCRUB):
        raise httpx.LocalProtocolError(f"Illegal header value b'key={SECRET}\\n'")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert "***" in str(info.value)


def test_other_exceptions_pass_through_untranslated() -> None:
    with pytest.raises(KeyError), translated_transport_errors(scrub=SCRUB):
        raise KeyError("x")
