"""One beat sends across hosts: broker.beatlock's Redis lock against a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pushworker.broker.beatlock import KEY, BeatLock
from pushworker.delivery import ratelimit
from tests.support.redis_server import RedisServer, free_port


@pytest.fixture
def client(tmp_path: Path) -> Iterator[redis.Redis]:
    server = RedisServer(tmp_path / "redis").start()
    connection = redis.Redis.from_url(server.url)
    yield connection
    connection.close()
    server.stop()


def test_one_holder_others_stand_by_and_take_over(client: redis.Redis) -> None:
    first, second = BeatLock(client, seconds=5), BeatLock(client, seconds=5)
    assert first.hold() and first.hold()  # taken, then renewed
    assert not second.hold()
    second.release()  # not its lock: the holder keeps it
    assert first.hold() and not second.hold()
    client.delete(KEY)  # the holder died and its lock ran out
    assert second.hold() and not first.hold()
    second.release()
    assert first.hold()


def test_unreachable_redis_means_standing_by() -> None:
    lock = BeatLock(ratelimit.connect(f"redis://127.0.0.1:{free_port()}/0"))
    assert not lock.hold()
