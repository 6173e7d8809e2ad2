"""The MiPush exception tree, and the one place where transport failures and error bodies become it.

    Exception
     ├── MiPushError               a request to Xiaomi failed; .category names the handling
     │    ├── TransientError        retry soon with backoff (network, timeouts, 5xx, "busy")
     │    │    └── ThrottledError   retry later, with a longer base delay (rate limits)
     │    ├── QuotaExceededError    do not retry before tomorrow (daily quota)
     │    ├── InvalidTargetError    never retry; deactivate the device ("No valid targets!")
     │    ├── ConfigurationError    never retry; alert (bad secret/package, blacklisted, bad host)
     │    └── BadRequestError       never retry (bad parameters, unknown codes)
     └── ValueError
          └── InvalidMessageError   refused locally, before any request (.field, .problem)
               └── MessageTypeError a value of the wrong type (also a TypeError)

A subclass means "handled the same way": ThrottledError is a TransientError with a longer delay.
InvalidMessageError is deliberately not a MiPushError: nothing was sent, and the fix is in our code
or data, so callers cannot confuse it with an answer from Xiaomi.

Every exception rebuilds from its `.args` (`type(e)(*e.args)`), as Celery needs when it pickles or
serializes them; `MiPushError.completed` travels with pickle but not with JSON serialization.
Exception text never contains the app secret, targets or message content.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import httpx

from pushworker.mipush.codes import (
    CONDITION_CATEGORIES,
    Category,
    Condition,
    category_for_code,
    category_for_http_status,
)


class MiPushError(Exception):
    """A failed request to Xiaomi. `maybe_delivered` is True when Xiaomi may have acted on it."""

    category: ClassVar[Category]

    def __init__(
        self,
        message: str,
        code: int | None = None,
        reason: str | None = None,
        description: str | None = None,
        trace_id: str | None = None,
        http_status: int | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message, code, reason, description, trace_id, http_status, maybe_delivered)
        self.message = message
        self.code = code
        self.reason = reason
        self.description = description
        self.trace_id = trace_id
        self.http_status = http_status
        self.maybe_delivered = maybe_delivered
        # Results of the chunks sent before this one failed (send_to_* with > 1000 targets).
        self.completed: list[Any] = []

    def __str__(self) -> str:
        parts = [
            f"{name}={value}"
            for name, value in (
                ("code", self.code),
                ("http_status", self.http_status),
                ("trace_id", self.trace_id),
            )
            if value is not None
        ]
        if self.reason:
            parts.append(f"reason={self.reason!r}")
        if self.maybe_delivered:
            parts.append("maybe_delivered=True")
        return f"{self.message} ({', '.join(parts)})" if parts else self.message


class TransientError(MiPushError):
    category = Category.TRANSIENT


class ThrottledError(TransientError):
    category = Category.THROTTLED


class QuotaExceededError(MiPushError):
    category = Category.QUOTA


class InvalidTargetError(MiPushError):
    category = Category.INVALID_TARGET


class ConfigurationError(MiPushError):
    category = Category.CONFIGURATION


class BadRequestError(MiPushError):
    category = Category.BAD_REQUEST


class InvalidMessageError(ValueError):
    """A message, target list or argument refused locally; `field` names what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field = field
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class MessageTypeError(InvalidMessageError, TypeError):
    """A value of the wrong type (None, bool for an int, int for a str, ...)."""


ERROR_CLASSES: dict[Category, type[MiPushError]] = {
    cls.category: cls
    for cls in (
        TransientError,
        ThrottledError,
        QuotaExceededError,
        InvalidTargetError,
        ConfigurationError,
        BadRequestError,
    )
}

# httpx exception -> (condition, maybe_delivered). Order matters: subclasses before bases.
# maybe_delivered is False only when the request certainly did not reach Xiaomi complete: a
# connection never made, or a body never fully written (a server does not act on a half body).
# Once the request is written, a timeout or a dropped connection leaves its fate unknown.
_TRANSPORT_TABLE: tuple[tuple[type[Exception], Condition, bool], ...] = (
    (httpx.ConnectTimeout, Condition.CONNECT_TIMEOUT, False),
    (httpx.PoolTimeout, Condition.POOL_TIMEOUT, False),
    (httpx.WriteTimeout, Condition.WRITE_TIMEOUT, False),
    (httpx.ReadTimeout, Condition.READ_TIMEOUT, True),
    (httpx.ConnectError, Condition.CONNECT_ERROR, False),
    (httpx.WriteError, Condition.WRITE_ERROR, False),
    (httpx.ReadError, Condition.CONNECTION_RESET, True),
    (httpx.RemoteProtocolError, Condition.CONNECTION_RESET, True),
    (httpx.LocalProtocolError, Condition.LOCAL_PROTOCOL_ERROR, False),
    (httpx.UnsupportedProtocol, Condition.BAD_ENDPOINT, False),
    (httpx.InvalidURL, Condition.BAD_ENDPOINT, False),
    (httpx.ProxyError, Condition.CONNECT_ERROR, False),
    (httpx.DecodingError, Condition.NON_JSON_BODY, True),
    (httpx.TransportError, Condition.NETWORK_ERROR, True),
)


def error_for_condition(
    condition: Condition,
    message: str,
    *,
    http_status: int | None = None,
    maybe_delivered: bool,
    code: int | None = None,
    reason: str | None = None,
    description: str | None = None,
    trace_id: str | None = None,
) -> MiPushError:
    """The exception for a failure without a (usable) Xiaomi code."""
    cls = ERROR_CLASSES[CONDITION_CATEGORIES[condition]]
    return cls(message, code, reason, description, trace_id, http_status, maybe_delivered)


def error_for_code(
    code: int,
    *,
    reason: str | None,
    description: str | None,
    trace_id: str | None,
    http_status: int | None,
) -> MiPushError:
    """The exception for a Xiaomi error body: an explicit refusal, so never maybe_delivered."""
    cls = ERROR_CLASSES[category_for_code(code)]
    return cls(
        "Xiaomi refused the request", code, reason, description, trace_id, http_status, False
    )


def error_for_http_status(status: int, *, maybe_delivered: bool) -> MiPushError:
    """The exception for a non-2xx response whose body carried no Xiaomi code."""
    cls = ERROR_CLASSES[category_for_http_status(status)]
    return cls(
        f"HTTP {status} without a Xiaomi code", None, None, None, None, status, maybe_delivered
    )


@contextlib.contextmanager
def translated_transport_errors(*, scrub: Callable[[str], str]) -> Iterator[None]:
    """Turn any httpx error raised inside the block into a MiPushError, chained with `from`.

    `scrub` (AppSecretAuth.scrub) masks the secret in the text defensively: httpx does not put
    headers into messages, but a protocol error about a header value would. It is passed as a
    callable, not the secret itself, so this frame holds no secret in a local variable.
    """
    try:
        yield
    except (httpx.TransportError, httpx.InvalidURL, httpx.DecodingError) as exc:
        condition, maybe_delivered = next(
            (
                (cond, maybe)
                for exc_type, cond, maybe in _TRANSPORT_TABLE
                if isinstance(exc, exc_type)
            ),
            (Condition.NETWORK_ERROR, True),
        )
        detail = scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise error_for_condition(
            condition,
            f"{condition.value.replace('_', ' ')} ({detail})",
            maybe_delivered=maybe_delivered,
        ) from exc
