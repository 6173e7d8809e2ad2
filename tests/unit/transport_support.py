"""A real redis-server and an in-process kombu consumer on the hardened transport, for unit tests.

Each entry is LPUSHed onto a real Redis list and read by the real BRPOP path; ``Link.feed`` says
what became of it: delivered to the consumer, or kept as a DeadLetter row.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from kombu import Connection, Consumer, Queue

from tests.support.stack import wait_for

VALID_ID = "8d5e9c1e-2b49-4f55-9b0e-6f0c1c0e7a11"


def celery_message(
    body: Any = ([], {"event_id": "e1"}, {}), *, queue: str = "q", **headers: Any
) -> dict[str, Any]:
    """A Celery protocol-2 task message as kombu's Redis transport stores it."""
    encoded = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {
        "body": base64.b64encode(encoded).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": "pushworker.send_goods_visit",
            "id": VALID_ID,
            "root_id": VALID_ID,
            "parent_id": None,
            "group": None,
            "shadow": None,
            "eta": None,
            "expires": None,
            "retries": 0,
            "timelimit": [None, None],
            "argsrepr": "()",
            "kwargsrepr": "{'event_id': 'e1'}",
            "origin": "gen1@host",
            "ignore_result": True,
            **headers,
        },
        "properties": {
            "correlation_id": VALID_ID,
            "reply_to": "c9b2c9b2",
            "delivery_mode": 2,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
            "priority": 0,
            "delivery_info": {"exchange": "", "routing_key": queue},
        },
    }


def edited(message: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``message`` with the dotted ``path`` set to ``value`` (or removed, for DELETE)."""
    copied = copy.deepcopy(message)
    *parents, last = path.split(".")
    node = copied
    for key in parents:
        node = node[key]
        if not isinstance(node, dict):  # an earlier edit replaced a parent: nothing to edit
            return copied
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return copied


DELETE = object()
# A task name that would print a second, forged line into the worker's log.
FORGED = "x\n2026-12-01 00:00:00,000 INFO pushworker FORGED all deliveries sent"


def _body(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# Celery 3's message: the task named in the body, which Celery would still run as it is.
PROTOCOL_1 = _body(b'{"task": "pushworker.send_goods_visit", "id": "x", "args": 5}')


def garbage(valid: dict[str, Any]) -> list[tuple[str, bytes | dict[str, Any], str]]:
    """(case, queue entry, what its dead letter's reason says), most made from ``valid``.

    The first seven are issue #7's numbered case 1: each stopped or wedged a real worker before.
    """
    v = valid
    return [
        ("kombu-type-tag", b'{"__type__":"nope","__value__":1}', "not JSON: ValueError"),
        ("deeply-nested", b"[" * 100_000, "queue entry is not JSON: nested too deeply"),
        ("rot13-body", edited(v, "properties.body_encoding", "rot13"), "body_encoding is not"),
        ("body-is-5", edited(v, "body", _body(b"5")), "body is not [args, kwargs, embed]"),
        ("timelimit-x", edited(v, "headers.timelimit", "x"), "headers.timelimit"),
        ("headers-without-id", edited(v, "headers.id", DELETE), "headers.id"),
        ("empty-delivery-info", edited(v, "properties.delivery_info", {}), "info.exchange is"),
        # The rest of the envelope, field by field.
        ("not-json", b"\x00\xff not json", "queue entry is not JSON"),
        ("json-list", b'["json", "but", "no", "envelope"]', "not a JSON object but list"),
        ("properties-5", edited(v, "properties", 5), "properties is not an object"),
        ("no-delivery-info", edited(v, "properties.delivery_info", DELETE), "delivery_info"),
        ("routing-key-list", edited(v, "properties.delivery_info.routing_key", []), "routing_k"),
        ("tag-int", edited(v, "properties.delivery_tag", 7), "delivery_tag"),
        ("priority-300", edited(v, "properties.priority", 300), "properties.priority"),
        ("headers-list", edited(v, "headers", [1]), "headers is not an object"),
        ("headers-null", edited(v, "headers", None), "headers is not an object"),
        ("pickle", edited(v, "content-type", "application/x-python-serialize"), "content-type"),
        ("binary", edited(v, "content-encoding", "binary"), "content-encoding"),
        ("body-int", edited(v, "body", 5), "body is not a string"),
        ("body-not-base64", edited(v, "body", "!!!"), "body is not valid base64"),
        ("body-not-json", edited(v, "body", _body(b"{broken")), "undecodable body"),
        ("body-nested", edited(v, "body", _body(b"[" * 100_000)), "nested too deeply"),
        ("body-type-tag", edited(v, "body", _body(b'{"__type__":"x","__value__":1}')), "undecod"),
        ("kwargs-list", edited(v, "body", _body(b"[[], [], {}]")), "body is not [args"),
        ("protocol-1", edited(edited(v, "headers.task", DELETE), "body", PROTOCOL_1), "protocol 1"),
        ("task-int", edited(v, "headers.task", 5), "headers.task"),
        ("task-list", edited(v, "headers.task", ["a"]), "headers.task"),
        ("id-empty", edited(v, "headers.id", ""), "headers.id"),
        ("id-newline", edited(v, "headers.id", "a\nb"), "headers.id holds control characters"),
        ("task-newline", edited(v, "headers.task", FORGED), "headers.task holds control char"),
        ("timelimit-short", edited(v, "headers.timelimit", [1]), "headers.timelimit"),
        ("timelimit-text", edited(v, "headers.timelimit", ["a", 1]), "headers.timelimit"),
        ("timelimit-negative", edited(v, "headers.timelimit", [-1, None]), "headers.timelimit"),
        ("eta-text", edited(v, "headers.eta", "tomorrow"), "headers.eta"),
        ("eta-empty", edited(v, "headers.eta", ""), "headers.eta"),
        ("eta-year-1", edited(v, "headers.eta", "0001-01-01T00:00:00+05:00"), "headers.eta"),
        ("expires-9999", edited(v, "headers.expires", "9999-12-31T23:59:59-05:00"), "expires"),
        ("expires-number", edited(v, "headers.expires", 5), "headers.expires"),
        # Issue 21: held until due, and handed out again every visibility timeout meanwhile.
        ("eta-far-future", edited(v, "headers.eta", "9999-12-31T23:59:59"), "beyond the redel"),
        ("expires-past", edited(v, "headers.expires", "2020-01-01T00:00:00+00:00"), "in the past"),
        ("retries-text", edited(v, "headers.retries", "1"), "headers.retries"),
        ("retries-negative", edited(v, "headers.retries", -1), "headers.retries"),
        ("argsrepr-dict", edited(v, "headers.argsrepr", {}), "headers.argsrepr"),
    ]


@dataclass
class Outcome:
    delivered: list[Any]
    dead_letters: list[Any]


class Link:
    """One queue on a real Redis, consumed in this process through the hardened transport."""

    def __init__(
        self,
        url: str,
        transport: str = "pushworker.broker.transport:Transport",
        *,
        push_url: str | None = None,
        **options: Any,
    ) -> None:
        self.url = url
        self.queue = f"t-{uuid.uuid4().hex[:8]}"
        self.connection = Connection(url, transport=transport, transport_options=options)
        self.channel = self.connection.channel()
        self.delivered: list[Any] = []
        self.on_message = self._ack
        self.consumer = Consumer(
            self.channel,
            [Queue(self.queue)],
            on_message=lambda m: self.on_message(m),
            accept=["json"],
        )
        self.consumer.consume()
        self.redis = redis.Redis.from_url(push_url or url)

    def _ack(self, message: Any) -> None:
        self.delivered.append(message)
        message.ack()

    def push(self, entry: bytes | str | dict[str, Any]) -> None:
        if isinstance(entry, dict):
            entry = json.dumps(entry)
        self.redis.lpush(self.queue, entry)

    def feed(self, entry: bytes | str | dict[str, Any], timeout: float = 10) -> Outcome:
        """Push one entry and read until it was delivered or dead-lettered (never both)."""
        from pushworker.store.models import DeadLetter

        seen = DeadLetter.objects.order_by("-id").values_list("id", flat=True).first() or 0
        delivered = len(self.delivered)
        self.push(entry)

        def settled() -> bool:
            self.drain()
            kept = DeadLetter.objects.filter(id__gt=seen).exists()
            return len(self.delivered) > delivered or kept

        wait_for(settled, timeout, interval=0, message="the entry to be delivered or dead-lettered")
        return Outcome(self.delivered[delivered:], list(DeadLetter.objects.filter(id__gt=seen)))

    def drain(self) -> None:
        """Read what arrives within a moment (the real BRPOP path), if anything."""
        with contextlib.suppress(TimeoutError):
            self.connection.drain_events(timeout=0.05)

    def unacked(self) -> int:
        return int(self.redis.hlen("unacked"))

    def queued(self) -> int:
        return int(self.redis.llen(self.queue))

    def close(self) -> None:
        self.consumer.cancel()
        self.connection.release()


def flush(url: str) -> None:
    redis.Redis.from_url(url).flushall()
