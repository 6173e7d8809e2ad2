"""Random queue entries against the hardened transport: none stops it, each is kept or runnable.

Hypothesis builds entries from raw bytes, random JSON, and a real Celery message with random
values put into (or taken out of) the fields kombu and Celery read. Each goes through the real
BRPOP path of this process's transport, and the consumer then does what Celery's worker does in
its main process with a message it receives (build the Request, read the time limits, the ETA
and the expiry). The property: every entry is either delivered and survives those reads, or kept
as exactly one DeadLetter row, and nothing stays queued or unacknowledged.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.redis_server import RedisServer
from tests.unit.transport_support import DELETE, Link, celery_message, edited, flush

pytestmark = pytest.mark.django_db

TASK = "pushworker.send_goods_visit"
PATHS = [
    "body",
    "content-type",
    "content-encoding",
    "headers",
    "properties",
    "properties.body_encoding",
    "properties.delivery_tag",
    "properties.delivery_info",
    "properties.delivery_info.exchange",
    "properties.delivery_info.routing_key",
    "properties.priority",
    *(
        f"headers.{key}"
        for key in (
            "id",
            "task",
            "timelimit",
            "eta",
            "expires",
            "retries",
            "shadow",
            "root_id",
            "parent_id",
            "group",
            "argsrepr",
            "kwargsrepr",
            "ignore_result",
        )
    ),
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "x", TASK, "2030-01-01T00:00:00", "base64", "application/json"])
    # Values a real message holds, so that some mutated messages stay runnable.
    | st.sampled_from([[None, None], [30, 20], [1.5, None], 0, 3, "2030-01-01T00:00:00+00:00"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


bodies = st.one_of(
    st.binary(max_size=64).map(_b64),
    json_values.map(lambda value: _b64(json.dumps(value).encode())),
    st.tuples(json_values, json_values, json_values).map(
        lambda parts: _b64(json.dumps(list(parts)).encode())
    ),
)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    message = celery_message()
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3)):
        if path == "body" and draw(st.booleans()):
            value: Any = draw(bodies)
        else:
            value = draw(st.just(DELETE) | json_values)
        # An earlier edit may have removed or replaced the parent: then keep what there is.
        with contextlib.suppress(KeyError, TypeError, IndexError):
            message = edited(message, path, value)
    return message


entries = st.one_of(
    st.binary(max_size=200),
    json_values.map(json.dumps),
    st.integers(1, 5000).map(lambda depth: "[" * depth),
    st.integers(1, 5000).map(lambda depth: '{"a":' * depth),
    mutated(),
    mutated(),
    mutated(),
)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def celery_app():
    """An app of its own, with pushworker's real task: its shared tasks join every app that is
    finalized (a stub under the same name would be a second callable for one task name)."""
    from celery import Celery

    import pushworker.tasks  # noqa: F401 - registers the shared tasks

    app = Celery("fuzz", set_as_current=False)
    app.finalize()
    assert TASK in app.tasks
    return app


def _celery_reads(app: Any, message: Any) -> None:
    """What Celery's consumer and strategy read from a received message in the main process."""
    from celery.utils.time import timezone
    from celery.worker.request import Request
    from kombu.asynchronous.timer import to_timestamp

    name = message.headers.get("task") if isinstance(message.headers, dict) else None
    if not isinstance(name, str) or name not in app.tasks:
        return  # protocol 1 or an unknown task: Celery's own dead-letter path (consumer.py)
    assert "args" not in message.payload
    request = Request(
        message,
        app=app,
        task=app.tasks[name],
        body=message.body,
        headers=message.headers,
        decoded=False,
        utc=True,
    )
    hard, soft = request.time_limits
    for moment in (request.eta, request.expires):
        if moment is not None:
            to_timestamp(timezone.to_system(moment))
    request.info(safe=True)  # what Celery logs about a request that fails
    args, kwargs, _embed = message.payload
    assert isinstance(args, list) and isinstance(kwargs, dict)


@pytest.fixture
def link(redis_url: str, celery_app: Any) -> Iterator[Link]:
    """One consumer for every example: each leaves the queue and the unacked set empty."""
    flush(redis_url)
    link = Link(redis_url)

    def celery(message: Any) -> None:
        _celery_reads(celery_app, message)  # what raises here is dead-lettered, and fails below
        link.delivered.append(message)
        message.ack()

    link.on_message = celery
    yield link
    link.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(entry=entries)
def test_any_entry_is_delivered_and_readable_or_kept_as_one_dead_letter(
    link: Link, entry: bytes | str | dict[str, Any]
) -> None:
    outcome = link.feed(entry)

    if outcome.dead_letters:
        [letter] = outcome.dead_letters
        assert outcome.delivered == []
        assert not letter.reason.startswith("failed on delivery"), letter.reason
        event(f"dead letter: {letter.reason.split(':')[0]}")
    else:
        assert len(outcome.delivered) == 1
        event("delivered")
    assert (link.queued(), link.unacked()) == (0, 0)
