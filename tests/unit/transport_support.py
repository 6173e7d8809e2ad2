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
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return copied


DELETE = object()


@dataclass
class Outcome:
    delivered: list[Any]
    dead_letters: list[Any]


class Link:
    """One queue on a real Redis, consumed in this process through the hardened transport."""

    def __init__(self, url: str, transport: str = "pushworker.transport:Transport", **options):
        self.url = url
        self.queue = f"t-{uuid.uuid4().hex[:8]}"
        self.connection = Connection(url, transport=transport, transport_options=options)
        self.channel = self.connection.channel()
        self.delivered: list[Any] = []
        self.on_message = self._ack
        self.consumer = Consumer(
            self.channel, [Queue(self.queue)], on_message=lambda m: self.on_message(m),
            accept=["json"],
        )
        self.consumer.consume()
        self.redis = redis.Redis.from_url(url)

    def _ack(self, message: Any) -> None:
        self.delivered.append(message)
        message.ack()

    def push(self, entry: bytes | str | dict[str, Any]) -> None:
        if isinstance(entry, dict):
            entry = json.dumps(entry)
        self.redis.lpush(self.queue, entry)

    def feed(self, entry: bytes | str | dict[str, Any], timeout: float = 10) -> Outcome:
        """Push one entry and read until it was delivered or dead-lettered (never both)."""
        from pushworker.models import DeadLetter

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
