"""The hardened Redis transport: each malformed queue entry becomes a dead letter, nothing stops it.

A real redis-server per module; entries go through the real BRPOP path of this process's kombu
connection (tests/unit/transport_support.py). The worker-level proof is
tests/integration/test_transport_garbage.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from tests.support.redis_server import RedisServer
from tests.support.stack import wait_for
from tests.unit.transport_support import Link, celery_message, edited, flush, garbage

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def link(redis_url: str) -> Iterator[Link]:
    flush(redis_url)
    link = Link(redis_url)
    yield link
    link.close()


VALID = celery_message()
TASK = VALID["headers"]["task"]
GARBAGE = garbage(VALID)


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_a_valid_task_message_is_delivered_and_nothing_is_dead_lettered(link: Link) -> None:
    outcome = link.feed(celery_message(eta=soon(30), expires=soon(600), timelimit=[30, 20]))

    assert len(outcome.delivered) == 1 and outcome.dead_letters == []
    assert outcome.delivered[0].headers["id"] == celery_message()["headers"]["id"]
    assert outcome.delivered[0].payload == [[], {"event_id": "e1"}, {}]


@pytest.mark.parametrize(("entry", "reason"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_each_malformed_entry_is_dead_lettered_with_its_reason_and_the_next_is_delivered(
    link: Link, entry: bytes | dict, reason: str
) -> None:
    outcome = link.feed(entry)

    assert outcome.delivered == []
    [letter] = outcome.dead_letters
    assert reason in letter.reason
    assert letter.body  # what arrived is kept for a human
    assert (link.queued(), link.unacked()) == (0, 0), "the entry is neither put back nor held"
    assert len(link.feed(celery_message()).delivered) == 1


def test_an_eta_beyond_the_redelivery_horizon_is_dead_lettered_at_once_and_never_held(
    link: Link, configure
) -> None:
    from pushworker import conf
    from pushworker.conf.retention import redelivery_horizon_seconds

    configure()
    horizon = redelivery_horizon_seconds(conf.get())  # 588 s with the defaults
    [letter] = link.feed(celery_message(eta=soon(horizon + 60))).dead_letters
    assert f"beyond the redelivery horizon ({horizon:.0f} s)" in letter.reason
    assert (link.queued(), link.unacked()) == (0, 0)
    # Within it (a countdown longer than the visibility timeout, say): delivered as before.
    assert len(link.feed(celery_message(eta=soon(horizon - 60))).delivered) == 1


def test_a_dead_letter_names_the_task_and_id_of_a_readable_envelope(link: Link) -> None:
    [letter] = link.feed(edited(VALID, "headers.timelimit", "x")).dead_letters

    assert letter.task_name == "pushworker.send_goods_visit"
    assert letter.task_id == VALID["headers"]["id"]
    assert "timelimit" in letter.headers


def test_anything_the_consumer_raises_is_dead_lettered_and_acknowledged(link: Link) -> None:
    def broken(message: object) -> None:
        raise RuntimeError("a bug in the consumer")

    link.on_message = broken
    [letter] = link.feed(celery_message()).dead_letters
    link.on_message = link._ack

    assert letter.reason == "failed on delivery: RuntimeError: a bug in the consumer"
    assert (link.queued(), link.unacked()) == (0, 0)
    assert len(link.feed(celery_message()).delivered) == 1


def test_a_synchronous_get_dead_letters_garbage_too(link: Link) -> None:
    from pushworker.store.models import DeadLetter

    link.push(b"[" * 100_000)
    link.push(celery_message())

    assert link.channel.basic_get(link.queue, no_ack=True) is None
    assert DeadLetter.objects.get().reason == "queue entry is not JSON: nested too deeply"
    assert link.channel.basic_get(link.queue, no_ack=True).headers["task"] == TASK


def test_garbage_written_into_the_unacked_hash_is_dead_lettered_by_the_restore_sweep(
    link: Link,
) -> None:
    from pushworker.store.models import DeadLetter

    link.redis.hset("unacked", "forged-tag", b"[" * 100_000)
    link.redis.zadd("unacked_index", {"forged-tag": 0})  # long past the visibility timeout

    link.channel.qos.restore_visible(interval=1)

    assert DeadLetter.objects.get().reason == "unacked entry not restorable: RecursionError"
    assert (link.unacked(), link.redis.zcard("unacked_index"), link.queued()) == (0, 0, 0)
    assert len(link.feed(celery_message()).delivered) == 1


def test_a_malformed_broadcast_is_dead_lettered_not_delivered(link: Link) -> None:
    from pushworker.store.models import DeadLetter

    delivered = link.channel._deliver_fanout_message(
        edited(VALID, "properties.delivery_info", {}), "celery.pidbox"
    )

    assert delivered is False
    reason = DeadLetter.objects.get().reason
    assert reason.startswith("malformed envelope: properties.delivery_info")


def test_a_newline_in_a_dead_lettered_task_name_cannot_forge_a_log_line(
    link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    from pushworker.broker import consumer
    from pushworker.ops.logs import KeyValueFormatter

    forged = "x\n2026-12-01 00:00:00 INFO pushworker all good\u202e"
    caplog.set_level(logging.ERROR, logger="pushworker.deadletter")
    link.feed(edited(VALID, "headers.task", forged))  # the transport's dead letter
    consumer.store(f"unknown task: {forged}", _Headers(task=forged))  # Celery's unknown-task one

    lines = [KeyValueFormatter().format(r) for r in caplog.records]
    assert len(lines) == 2
    for line in lines:
        assert "\n" not in line and "\u202e" not in line
        assert "2026-12-01 00:00:00 INFO pushworker all good" in line  # inside the one line


class _Headers:
    def __init__(self, **headers: str) -> None:
        self.headers = headers
        self.body = b""


def test_the_checks_accept_every_message_celery_itself_writes(link: Link) -> None:
    """A real publish through Celery's app, read back by the hardened transport, is delivered."""
    from celery import Celery

    app = Celery("t", broker=link.url, set_as_current=False)
    app.conf.broker_transport = "pushworker.broker.transport:Transport"
    app.send_task(
        "pushworker.send_goods_visit",
        kwargs={"event_id": "e2", "goods_name": "碗\n"},
        queue=link.queue,
        countdown=5,
        expires=60,
        time_limit=30,
    )
    [message] = _drain(link)

    assert message.headers["task"] == "pushworker.send_goods_visit"
    assert message.payload[1]["goods_name"] == "碗\n"


def _drain(link: Link) -> list:
    from tests.support.stack import wait_for

    def got() -> list:
        link.drain()
        return link.delivered

    return list(wait_for(got, 10, interval=0, message="a delivery"))  # type: ignore[arg-type]


def test_a_broadcast_nested_too_deeply_is_skipped_and_the_next_broadcast_arrives(
    redis_url: str,
) -> None:
    from kombu import Connection, Exchange, Queue

    exchange = Exchange("pw-broadcast", type="fanout")
    received: list = []
    with Connection(redis_url, transport="pushworker.broker.transport:Transport") as connection:
        consumer = connection.Consumer(
            [Queue("pw-broadcast-q", exchange=exchange)],
            on_message=lambda message: received.append(message.payload),
            accept=["json"],
        )
        consumer.consume()
        link = Link.__new__(Link)
        link.connection = connection
        link.drain()  # subscribes
        publisher = redis.Redis.from_url(redis_url)
        wait_for(lambda: publisher.publish("/0.pw-broadcast", b"[" * 100_000), 10)
        connection.Producer().publish({"hello": 1}, exchange=exchange)

        def arrived() -> list:
            link.drain()
            return received

        assert wait_for(arrived, 10, interval=0) == [{"hello": 1}]


def test_a_channel_closed_after_its_connection_was_released_raises_a_connection_error() -> None:
    # kombu restores unacked messages while closing a channel whose connection the consumer has
    # already released; stock kombu then raises AttributeError and the worker stops. A connection
    # error is what the consumer ignores before it reconnects.
    from types import SimpleNamespace

    from pushworker.broker.transport import Channel, SentinelChannel

    for kind in (Channel, SentinelChannel):
        channel = kind.__new__(kind)
        channel.connection = SimpleNamespace(client=None)
        with pytest.raises(redis.exceptions.ConnectionError):
            channel._connparams()
