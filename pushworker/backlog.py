"""PLACEHOLDER (the web helper's version replaces it): the draining flag and the drain kick."""

from __future__ import annotations

from celery import current_app

from pushworker import brokerredis, conf
from pushworker.integration import QUEUE

KEY = "pushworker:draining"


def _client():
    return brokerredis.for_app(current_app)


def draining() -> bool:
    return bool(_client().exists(KEY))


def kick() -> None:
    _client().set(KEY, "1", px=int(conf.get().visibility_timeout * 1000))
    current_app.send_task("pushworker.drain", queue=QUEUE)


def settle() -> None:
    _client().delete(KEY)
