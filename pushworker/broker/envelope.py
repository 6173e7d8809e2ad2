"""What a queue entry must look like before kombu and Celery may touch it; pure checks, no I/O.

Anyone who can write to Redis can push any bytes onto a queue. kombu and Celery assume the envelope
they wrote themselves: a wrong type anywhere raises inside the worker's event loop, which stops the
worker or puts the entry back for the next worker to crash on. So every field either of them reads
in the worker's main process is checked here first, and each check says which field is wrong.
Checks mirror what Celery's own producer writes (protocol 2, JSON, base64 bodies), nothing looser.

Time is bounded too. A worker holds a message with an ``eta`` (a ``countdown`` becomes one)
unacknowledged until it is due, and Redis hands out every unacknowledged message again after the
visibility timeout: an ``eta`` far ahead comes back once per timeout, each copy held in the
worker's memory until it is due (a year-9999 ``eta``: forever). pushworker publishes no ``eta`` of
its own (a retry waits as a row), and no copy of an event can legitimately come later than the
redelivery horizon (``conf/retention.py``, the bound retention is checked against), so an ``eta``
beyond it is refused here, before a worker holds anything; so is an ``expires`` already past.
"""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.parser import isoparse
from kombu.utils.json import loads

# pushworker accepts JSON only (celeryconfig.accept_content); kombu's Redis channel encodes bodies
# in base64 and knows no other body encoding.
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"
BODY_ENCODING = "base64"
# Longest id or task name kept: the DeadLetter and Delivery columns hold 255 characters.
MAX_NAME = 255
# Header fields Celery reads as text. The names and ids among them never hold control characters
# when Celery writes them, and a raw newline in one would forge a line of the worker's log; the
# reprs of the arguments may (Celery's saferepr keeps a newline in a string as it is).
_NAME_HEADERS = ("id", "task", "shadow", "root_id", "parent_id", "group")
_TEXT_HEADERS = (*_NAME_HEADERS, "argsrepr", "kwargsrepr")


class GarbageError(Exception):
    """A queue entry that is not a message this worker can run; ``str()`` is the reason."""

    def __init__(self, reason: str, message: Any = None) -> None:
        super().__init__(reason)
        self.message = message  # the decoded JSON, when there was any


def decode(raw: bytes | str) -> dict[str, Any]:
    """The envelope of a raw queue entry, or GarbageError saying why it is none."""
    try:
        message = loads(raw)
    except RecursionError:
        raise GarbageError("queue entry is not JSON: nested too deeply") from None
    except Exception as error:  # noqa: BLE001 - kombu's decoder raises more than JSONDecodeError
        raise GarbageError(f"queue entry is not JSON: {type(error).__name__}") from None
    problem = envelope_problem(message)
    if problem:
        raise GarbageError(f"malformed envelope: {problem}", message)
    return message


def envelope_problem(message: Any) -> str | None:
    """Why ``message`` cannot become a kombu Message, or None when kombu can read it safely."""
    if not isinstance(message, dict):
        return f"not a JSON object but {type(message).__name__}"
    properties = message.get("properties")
    if not isinstance(properties, dict):
        return "properties is not an object"
    info = properties.get("delivery_info")
    if not isinstance(info, dict):
        return "no properties.delivery_info"
    for key in ("exchange", "routing_key"):
        if not isinstance(info.get(key), str):
            return f"properties.delivery_info.{key} is not a string"
    tag = properties.get("delivery_tag")
    if not isinstance(tag, str) or not tag:
        return "no properties.delivery_tag"
    priority = properties.get("priority")
    if priority is not None and not (_is_int(priority) and 0 <= priority <= 255):
        return "properties.priority is not an integer from 0 to 255"
    if not isinstance(message.get("headers"), dict):  # kombu writes {} when there are none
        return "headers is not an object"
    if message.get("content-type") != CONTENT_TYPE:
        return f"content-type is not {CONTENT_TYPE}"
    if message.get("content-encoding") != CONTENT_ENCODING:
        return f"content-encoding is not {CONTENT_ENCODING}"
    body = message.get("body")
    if not isinstance(body, str):
        return "body is not a string"
    encoding = properties.get("body_encoding")
    if encoding is None:
        return None
    if encoding != BODY_ENCODING:
        return f"properties.body_encoding is not {BODY_ENCODING}"
    try:
        base64.b64decode(body.encode("ascii"), validate=True)
    except (binascii.Error, ValueError):
        return "body is not valid base64"
    return None


def task_problem(
    headers: Any, body: Any, horizon: float | None = None, now: datetime | None = None
) -> str | None:
    """Why a Celery task message cannot be run, or None; messages that are no task pass.

    ``body`` is the body after base64 decoding (bytes), as kombu's Message holds it. Celery's
    strategy decodes and unpacks it in the worker's main process, so its shape is checked too.
    ``horizon`` (seconds, the redelivery horizon) bounds how far ahead an ``eta`` may be.
    """
    protocol_2 = isinstance(headers, dict) and "task" in headers
    if protocol_2:
        problem = _header_problem(headers) or _time_problem(headers, horizon, now)
        if problem:
            return problem
    try:
        payload = loads(body)
    except RecursionError:
        return "undecodable body: nested too deeply" if protocol_2 else None
    except Exception as error:  # noqa: BLE001 - kombu's decoder raises more than JSONDecodeError
        return f"undecodable body: {type(error).__name__}" if protocol_2 else None
    if not protocol_2:
        # No task, a remote-control command say: Celery dead-letters what it cannot decode.
        # Protocol 1 (the task named in the body) is refused: pushworker's producers never write
        # it, and Celery would run it with whatever arguments it holds.
        if isinstance(payload, dict) and "task" in payload:
            return "protocol 1 task message (pushworker sends protocol 2 only)"
        return None
    if not (isinstance(payload, list) and len(payload) == 3):
        return "body is not [args, kwargs, embed]"
    args, kwargs, embed = payload
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return "body is not [args, kwargs, embed]"
    if embed is not None and not isinstance(embed, dict):
        return "body is not [args, kwargs, embed]"
    return None


def printable(value: object, limit: int = 200) -> str:
    """``value`` fit for one log line: cut, each non-printable character (newline, bidi) escaped."""
    text = str(value)[:limit]
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _header_problem(headers: dict[str, Any]) -> str | None:
    for key in ("id", "task"):
        value = headers.get(key)
        if not isinstance(value, str) or not value or len(value) > MAX_NAME:
            return f"headers.{key} is not a string of 1 to {MAX_NAME} characters"
    for key in _TEXT_HEADERS:
        value = headers.get(key)
        if value is not None and not isinstance(value, str):
            return f"headers.{key} is not a string"
        if key in _NAME_HEADERS and value and not value.isprintable():
            return f"headers.{key} holds control characters"
    timelimit = headers.get("timelimit")
    if timelimit is not None and not (
        isinstance(timelimit, list)
        and len(timelimit) == 2
        and all(limit is None or _is_seconds(limit) for limit in timelimit)
    ):
        return "headers.timelimit is not [hard, soft] seconds"
    for key in ("eta", "expires"):
        value = headers.get(key)
        if value is not None and not (isinstance(value, str) and _is_time(value)):
            return f"headers.{key} is not an ISO 8601 time"
    retries = headers.get("retries")
    if retries is not None and not (_is_int(retries) and retries >= 0):
        return "headers.retries is not a whole number"
    if headers.get("ignore_result") not in (None, True, False):
        return "headers.ignore_result is not true or false"
    return None


def _time_problem(
    headers: dict[str, Any], horizon: float | None, now: datetime | None
) -> str | None:
    """An ``eta`` beyond ``horizon`` seconds from ``now``, or an ``expires`` before ``now``.

    Only called once both parsed (:func:`_header_problem`)."""
    now = now or datetime.now(UTC)
    eta, expires = (_moment(headers.get(key)) for key in ("eta", "expires"))
    if horizon is not None and eta is not None and eta > now + timedelta(seconds=horizon):
        ahead = (eta - now).total_seconds()
        return (
            f"headers.eta is {ahead:.0f} s ahead, beyond the redelivery horizon ({horizon:.0f} s): "
            "Redis would hand it out again every visibility timeout while a worker held it"
        )
    if expires is not None and expires < now:
        return f"headers.expires is {(now - expires).total_seconds():.0f} s in the past"
    return None


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = isoparse(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_seconds(value: Any) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and 0 <= value < 10**9


def _is_time(value: str) -> bool:
    """Parsed as Celery's Request parses it (dateutil's isoparse) and convertible to a timestamp
    in UTC and local time, as its strategy converts an ETA; what passes here passes there."""
    try:
        moment = isoparse(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment.astimezone(UTC).timestamp()
        moment.astimezone().timestamp()
    except Exception:  # noqa: BLE001 - dateutil raises ValueError, OverflowError and others
        return False
    return True
