"""The Xiaomi REST wire format: paths, argument checks, form bodies, response parsing (no I/O)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import httpx

from pushworker.mipush.codes import Condition
from pushworker.mipush.errors import (
    InvalidMessageError,
    MessageTypeError,
    error_for_code,
    error_for_condition,
    error_for_http_status,
)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
MAX_TARGETS_PER_REQUEST = 1000
STATUS_PATH = "/v1/trace/message/status"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NESTED_PREFIXES = ("extra", "aps_proper_fields")


class TargetType(StrEnum):
    """Who a message is addressed to."""

    ALIAS = "alias"
    REGID = "regid"
    USER_ACCOUNT = "user_account"


# target type -> (single-message path, form field of the comma-joined targets, multi path)
ROUTES: Mapping[TargetType, tuple[str, str, str]] = {
    TargetType.ALIAS: ("/v3/message/alias", "alias", "/v2/multi_messages/aliases"),
    TargetType.REGID: ("/v3/message/regid", "registration_id", "/v2/multi_messages/regids"),
    TargetType.USER_ACCOUNT: (
        "/v2/message/user_account",
        "user_account",
        "/v2/multi_messages/user_accounts",
    ),
}
_TARGET_FIELDS = frozenset(field for _, field, _ in ROUTES.values()) | {"messages"}


def checked_fields(fields: object) -> dict[str, str]:
    """A copy of message `fields` after checking they are str -> str, without target fields."""
    if not isinstance(fields, Mapping):
        hint = " (call .android_fields() or .ios_fields())" if hasattr(fields, "ios_fields") else ""
        raise MessageTypeError("fields", f"must be a dict, got {type(fields).__name__}{hint}")
    if not fields:
        raise InvalidMessageError("fields", "must not be empty")
    for key, value in fields.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise MessageTypeError("fields", f"{key!r} must map a str to a str")
        if key in _TARGET_FIELDS:
            raise InvalidMessageError(key, "is set by the client; pass targets separately")
    return dict(fields)


def checked_targets(field: str, targets: object) -> list[str]:
    """`targets` (one str or an iterable of str) as a list; nothing empty, no commas."""
    items: object = [targets] if isinstance(targets, str) else targets
    if items is None or isinstance(items, bytes | Mapping) or not isinstance(items, Iterable):
        raise MessageTypeError(field, f"must be a str or a list of str, got {type(items).__name__}")
    checked = list(items)
    if not checked:
        raise InvalidMessageError(field, "no targets given")
    for index, target in enumerate(checked):
        name = f"{field}[{index}]"
        if not isinstance(target, str):
            raise MessageTypeError(name, f"must be a str, got {type(target).__name__}")
        if not target.strip() or target != target.strip():
            raise InvalidMessageError(name, "is empty or has surrounding spaces")
        if "," in target or _CONTROL.search(target):
            raise InvalidMessageError(name, "contains a comma or a control character")
    return checked


def chunks(items: Sequence[Any], size: int = MAX_TARGETS_PER_REQUEST) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def nested_message(fields: Mapping[str, str]) -> dict[str, Any]:
    """Flat form fields as one `message` object of a multi-message body (extras nested)."""
    message: dict[str, Any] = {}
    for key, value in fields.items():
        prefix, dot, rest = key.partition(".")
        if dot and rest and prefix in _NESTED_PREFIXES:
            message.setdefault(prefix, {})[rest] = value
        else:
            message[key] = value
    return message


def multi_messages_form(items: Sequence[tuple[str, Mapping[str, str]]]) -> dict[str, str]:
    messages = [{"target": target, "message": nested_message(fields)} for target, fields in items]
    return {
        "messages": json.dumps(messages, ensure_ascii=False, separators=(",", ":")),
        "time_to_send": "0",
    }


def checked_target_type(value: str) -> TargetType:
    """`value` as a TargetType; anything else is an InvalidMessageError naming the choices."""
    try:
        return TargetType(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in TargetType)
        raise InvalidMessageError("target_type", f"must be one of {choices}") from None


def checked_items(field: str, items: object) -> list[tuple[str, dict[str, str]]]:
    """send_multi's (target, fields) pairs, each checked like a single send's."""
    if items is None or isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise MessageTypeError(
            "items", f"must be a list of (target, fields), got {type(items).__name__}"
        )
    pairs = list(items)
    if not pairs:
        raise InvalidMessageError("items", "no messages given")
    checked = []
    for index, pair in enumerate(pairs):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise MessageTypeError(f"items[{index}]", "must be a (target, fields) pair")
        target = checked_targets(f"{field}[{index}]", pair[0])
        if len(target) != 1:
            raise InvalidMessageError(f"{field}[{index}]", "must be exactly one target")
        checked.append((target[0], checked_fields(pair[1])))
    return checked


def encode_form(form: Mapping[str, str]) -> bytes:
    """UTF-8, percent-encoded form body (what `application/x-www-form-urlencoded` means)."""
    return urlencode(list(form.items()), encoding="utf-8").encode("ascii")


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _code(body: Mapping[str, Any] | None) -> int | None:
    value = None if body is None else body.get("code")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def body_text(body: Mapping[str, Any] | None, key: str) -> str | None:
    """`body[key]` as a str, or None when absent."""
    value = None if body is None else body.get(key)
    return None if value is None else str(value)


def parse_response(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a successful response; any failure raises the typed MiPushError.

    maybe_delivered: False for an explicit Xiaomi refusal (code != 0), for 502/503 (a proxy
    could not reach Xiaomi, or Xiaomi declined to start) and for other non-2xx statuses; True
    for other 5xx (500, 504: the backend may have acted before failing) and for a 2xx body we
    cannot read (the request was processed, its outcome is unknown).
    """
    status = response.status_code
    body = _json_object(response)
    code = _code(body)
    details = {
        "reason": body_text(body, "reason"),
        "description": body_text(body, "description"),
        "trace_id": body_text(body, "trace_id"),
    }
    if 200 <= status < 300:
        if code == 0:
            assert body is not None
            return body
        if code is None:
            raise error_for_condition(
                Condition.NON_JSON_BODY,
                "response is not a Xiaomi JSON object",
                http_status=status,
                maybe_delivered=True,
            )
        raise error_for_code(code, http_status=status, **details)
    if status >= 500:
        raise error_for_condition(
            Condition.HTTP_5XX,
            f"HTTP {status} from the server",
            http_status=status,
            maybe_delivered=status not in (502, 503),
            code=code,
            **details,
        )
    if code:
        raise error_for_code(code, http_status=status, **details)
    raise error_for_http_status(status, maybe_delivered=False)
