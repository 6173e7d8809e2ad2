"""kombu's Redis transport, made to survive queue entries that are not kombu envelopes.

Anyone who can write to Redis can push arbitrary bytes onto a queue list. Stock kombu decodes the
entry inside the worker's event loop, so a non-JSON entry or a malformed envelope raises there and
stops the whole worker ("Unrecoverable error"). Here such an entry is dead-lettered and skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
from queue import Empty
from typing import Any

from kombu.transport import redis

from pushworker import consumer


def _envelope_problem(message: Any) -> str | None:
    """Why ``message`` cannot become a kombu Message, or None when it can."""
    if not isinstance(message, dict):
        return f"not a JSON object but {type(message).__name__}"
    properties = message.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_info"), dict):
        return "no properties.delivery_info"
    if not isinstance(properties.get("delivery_tag"), str):
        return "no properties.delivery_tag"
    if not isinstance(message.get("headers", {}), dict | None):
        return "headers is not an object"
    body = message.get("body")
    if body is not None and not isinstance(body, str):
        return "body is not a string"
    if body and properties.get("body_encoding") == "base64":
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "body is not valid base64"
    return None


class Channel(redis.Channel):
    def _brpop_read(self, **options: Any) -> bool:
        try:
            return super()._brpop_read(**options)
        except json.JSONDecodeError as error:  # the entry was already popped: keep it, go on
            consumer.store("queue entry is not JSON", None, error.doc)
            raise Empty() from None

    def _get(self, queue: str) -> Any:
        try:
            return super()._get(queue)
        except json.JSONDecodeError as error:
            consumer.store("queue entry is not JSON", None, error.doc)
            raise Empty() from None


class Transport(redis.Transport):
    Channel = Channel

    def _deliver(self, message: Any, queue: str) -> None:
        problem = _envelope_problem(message)
        if problem:
            consumer.store(f"malformed envelope: {problem}", None, json.dumps(message, default=str))
            return
        super()._deliver(message, queue)
