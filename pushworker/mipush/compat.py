"""A bridge for code written against the old xmpush SDK: APISender, PushMessage and Constants.

This is NOT the main API; new code uses `pushworker.mipush.Client` and `Message`. The bridge lets
functions written for `xmpush-python` (which cannot be installed by name and crashes on Python
3.10+) run with only their imports changed:

    from pushworker.mipush.compat import APISender, Constants, PushMessage

Differences from the SDK, on purpose:

* `Constants.use_sandbox()` / `use_official()` keep the SDK's process-wide switch, read at each
  send. It exists only here: the main API chooses the environment per request, because a global
  shared by every thread and task is how iOS messages end up on the wrong host.
* Hosts come from the environment variables MIPUSH_PRODUCTION_URL and MIPUSH_SANDBOX_URL when set
  (read at each send), else Xiaomi's production and sandbox hosts; so the same code can reach
  the local emulator.
* `message_dict()` / `message_dict_ios()` return a new validated dict; sends never mutate it.
* `retry_times` is the number of attempts; only TransientError is retried (1 s, 2 s, 4 s ...
  apart), and never when the request may already have reached Xiaomi (a duplicate notification
  is worse than a failed call here). Failures raise the typed `MiPushError`, not `APIError`,
  and keep Xiaomi's code. More than 1000 targets in one call is refused (the SDK sent one request).
* The SDK's topic, broadcast, trace and subscription calls are not bridged.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import httpx

from pushworker.mipush.client import Client, Endpoints, Environment, SendResult
from pushworker.mipush.errors import InvalidMessageError, MessageTypeError, TransientError
from pushworker.mipush.message import Message
from pushworker.mipush.wire import MAX_TARGETS_PER_REQUEST, checked_targets

PRODUCTION_URL_ENV = "MIPUSH_PRODUCTION_URL"
SANDBOX_URL_ENV = "MIPUSH_SANDBOX_URL"

_sleep = time.sleep  # tests replace these two
_transport: httpx.BaseTransport | None = None
_clients: dict[tuple[str, Endpoints], Client] = {}
_clients_lock = threading.Lock()


class Constants:
    """The SDK's process-wide sandbox switch (bridge only; see the module docstring)."""

    is_sandbox: ClassVar[bool] = False

    @classmethod
    def use_official(cls) -> None:
        cls.is_sandbox = False

    @classmethod
    def use_sandbox(cls) -> None:
        cls.is_sandbox = True


class JsonDict(dict[str, Any]):
    """A response dict whose keys also read as attributes, like the SDK's JsonDict."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class PushMessage(Message):
    """The SDK's PushMessage: Message plus the SDK-only helpers and its two outputs."""

    def restricted_package_names(self, names: Iterable[str]) -> PushMessage:
        if isinstance(names, str):
            raise MessageTypeError("restricted_package_name", "must be a list of names")
        self.restricted_package_name(list(names))
        return self

    def apns_only(self) -> PushMessage:
        self._ios_extras["ios_msg_channel"] = "1"
        return self

    def connection_only(self) -> PushMessage:
        self._ios_extras["ios_msg_channel"] = "2"
        return self

    def enable_flow_control(self) -> PushMessage:
        self.extra_element("flow_control", "1")
        return self

    def message_dict(self) -> dict[str, str]:
        """The Android fields (validated, a new dict)."""
        return self.android_fields()

    def message_dict_ios(self) -> dict[str, str]:
        """The iOS fields (validated, a new dict)."""
        return self.ios_fields()


class APISender:
    """The SDK's sender for alias, regid and user-account sends; returns the JSON as a JsonDict."""

    def __init__(self, security: str, token: str | None = None) -> None:
        if token is not None:
            raise ValueError("the audit token (X-PUSH-AUDIT-TOKEN) is not supported by the bridge")
        if not isinstance(security, str) or not security:
            raise ValueError("APISender needs the app secret")
        self._secret = security

    def __repr__(self) -> str:
        return "APISender(security='***')"

    def send_to_alias(
        self, message: Mapping[str, Any], alias: str | Iterable[str], retry_times: int = 3
    ) -> JsonDict:
        return self._send(Client.send_to_alias, "alias", message, alias, retry_times)

    def send(
        self, message: Mapping[str, Any], reg_id: str | Iterable[str], retry_times: int = 3
    ) -> JsonDict:
        return self._send(Client.send_to_regid, "registration_id", message, reg_id, retry_times)

    def send_to_user_account(
        self, message: Mapping[str, Any], user_account: str | Iterable[str], retry_times: int = 3
    ) -> JsonDict:
        return self._send(
            Client.send_to_user_account, "user_account", message, user_account, retry_times
        )

    def _send(
        self, method: Any, field: str, message: Mapping[str, Any], targets: object, retry_times: int
    ) -> JsonDict:
        fields = _stringified(message)
        checked = checked_targets(field, targets)
        if len(checked) > MAX_TARGETS_PER_REQUEST:
            raise InvalidMessageError(field, "more than 1000 targets; use Client, which chunks")
        client = _client_for(self._secret)
        environment = Environment.SANDBOX if Constants.is_sandbox else Environment.PRODUCTION
        attempts = max(1, retry_times)
        for attempt in range(attempts):
            try:
                [result] = method(client, fields, checked, environment=environment)
                return _json(result)
            except TransientError as exc:
                if exc.maybe_delivered or attempt + 1 == attempts:
                    raise
                _sleep(2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover


def _stringified(message: Mapping[str, Any]) -> dict[str, str]:
    """An SDK message dict as str -> str (ints stringified, package-name lists comma-joined)."""
    if not isinstance(message, Mapping):
        raise MessageTypeError("message", f"must be a dict, got {type(message).__name__}")
    fields: dict[str, str] = {}
    for key, value in message.items():
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            fields[key] = ",".join(value)
        elif isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            fields[key] = str(value)
        else:
            raise MessageTypeError(key, f"must be a str or an int, got {type(value).__name__}")
    return fields


def _client_for(secret: str) -> Client:
    endpoints = Endpoints(
        production=os.environ.get(PRODUCTION_URL_ENV) or Endpoints.production,
        sandbox=os.environ.get(SANDBOX_URL_ENV) or Endpoints.sandbox,
    )
    with _clients_lock:
        client = _clients.get((secret, endpoints))
        if client is None:
            client = Client(secret, endpoints=endpoints, transport=_transport)
            _clients[(secret, endpoints)] = client
        return client


def _json(result: SendResult) -> JsonDict:
    body: dict[str, Any] = {
        "result": "ok",
        "code": 0,
        "description": result.description,
        "info": result.info,
        "trace_id": result.trace_id,
    }
    if result.message_id is not None:
        body["data"] = {"id": result.message_id}
    return JsonDict({key: value for key, value in body.items() if value is not None})
