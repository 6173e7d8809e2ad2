"""Xiaomi Push (MiPush) client: message builder, HTTP client, error tree and code table.

Build a message, take the platform's fields, send them with the Client of that app's secret:

    from pushworker.mipush import Client, Environment, Message

    client = Client(secret)                                   # one per app secret, per process
    fields = (Message().restricted_package_name("com.example.app")
              .title("您有一条新消息~").description("…").extra({"type": 2})).android_fields()
    [result] = client.send_to_alias(fields, "QQC_42")        # list: one result per 1000 targets

Failures raise a MiPushError subclass whose class is the handling (see errors.py); a message or
target refused locally raises InvalidMessageError before anything is sent. The host is chosen
per request (`environment=Environment.SANDBOX`, iOS only); pointing `Endpoints` at a local
emulator is the only change tests need. This package imports httpx and the standard library only.
`pushworker.mipush.compat` is a bridge for code written against the old xmpush SDK.
"""

from pushworker.mipush.auth import AppSecretAuth
from pushworker.mipush.client import (
    DEFAULT_TIMEOUT,
    Client,
    Endpoints,
    Environment,
    SendResult,
)
from pushworker.mipush.codes import (
    CODE_CATEGORIES,
    UNKNOWN_CODE_CATEGORY,
    Category,
    Condition,
    category_for_code,
)
from pushworker.mipush.errors import (
    BadRequestError,
    ConfigurationError,
    InvalidMessageError,
    InvalidTargetError,
    MessageTypeError,
    MiPushError,
    QuotaExceededError,
    ThrottledError,
    TransientError,
)
from pushworker.mipush.message import Message, utf16_length
from pushworker.mipush.wire import MAX_TARGETS_PER_REQUEST, TargetType

__all__ = [
    "CODE_CATEGORIES",
    "DEFAULT_TIMEOUT",
    "MAX_TARGETS_PER_REQUEST",
    "UNKNOWN_CODE_CATEGORY",
    "AppSecretAuth",
    "BadRequestError",
    "Category",
    "Client",
    "Condition",
    "ConfigurationError",
    "Endpoints",
    "Environment",
    "InvalidMessageError",
    "InvalidTargetError",
    "Message",
    "MessageTypeError",
    "MiPushError",
    "QuotaExceededError",
    "SendResult",
    "TargetType",
    "ThrottledError",
    "TransientError",
    "category_for_code",
    "utf16_length",
]
