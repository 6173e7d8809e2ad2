"""What the throughput benchmarks start and read: env, emulator, workers, queues, /proc."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, database, redis_binary  # noqa: E402

from pushworker.emulator.logs import read_urls  # noqa: E402

QUEUE = "pushworker"  # the Celery queue of the per-event and drain messages
ANDROID_PACKAGE = "com.example.shop"
IOS_BUNDLE = "com.example.shop.ios"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
_STARTED: dict[str, Emulator] = {}  # by production URL: the emulators this process started


def postgres_url() -> str | None:
    """``PUSHWORKER_BENCH_DATABASE_URL``, else the local server when it answers; None if neither."""
    url = os.environ.get("PUSHWORKER_BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    if not url:
        return None
    try:
        import psycopg

        psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
    except Exception:  # noqa: BLE001 - any failure means "no PostgreSQL for this run"
        return None
    return url


def base_env(tmp: Path, redis_url: str, db_url: str, log_level: str) -> dict[str, str]:
    """The environment of the bench process, its producers and the worker: nothing inherited
    from the caller's PUSHWORKER_/MIPUSH_ variables, so the defaults of main are measured, but
    for the delivery policy: off, because 5,000 visits to 200 owners would mostly end
    ``suppressed`` by the daily cap and the dedup window, never reaching Xiaomi."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHWORKER_", "MIPUSH_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "pushworker.settings",
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
        "PUSHWORKER_DATABASE_URL": db_url,
        "PUSHWORKER_HOME": str(tmp),
        "PUSHWORKER_BROKER_URL": redis_url,
        "PUSHWORKER_LOG_LEVEL": log_level,
        "PUSHWORKER_POLICY": "off",
        "MIPUSH_ANDROID_APP_SECRET": secrets.token_urlsafe(24),
        "MIPUSH_ANDROID_PACKAGE_NAME": ANDROID_PACKAGE,
        "MIPUSH_IOS_APP_SECRET": secrets.token_urlsafe(24),
        "MIPUSH_IOS_BUNDLE_ID": IOS_BUNDLE,
    }
    return env


@contextlib.contextmanager
def stack(engine: str, log_level: str = "INFO") -> Iterator[tuple[Path, dict[str, str], str]]:
    """A private redis-server, a fresh database of ``engine`` ("sqlite" or "postgres") and the
    emulator (its real command line). Yields (tmp dir, env, database label); the env is also
    installed in ``os.environ`` so this process can set Django up against the same stack."""
    import tempfile

    from pushworker.demo.localredis import LocalRedis

    server = postgres_url() if engine == "postgres" else None
    if engine == "postgres" and server is None:
        raise SystemExit("no PostgreSQL: set PUSHWORKER_BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="pushworker-bench-") as name:
        tmp = Path(name)
        with (
            LocalRedis(tmp / "redis", binary=redis_binary()) as redis_server,
            database(tmp, server) as (label, db_url),
        ):
            env = base_env(tmp, redis_server.url, db_url, log_level)
            emulator = Emulator(env, tmp / "emulator.log")
            try:
                env |= {
                    "MIPUSH_PRODUCTION_URL": emulator.production,
                    "MIPUSH_SANDBOX_URL": emulator.sandbox,
                }
                os.environ.clear()
                os.environ.update(env)
                yield tmp, env, label
            finally:
                stop(emulator.process)
                _STARTED.pop(emulator.production, None)
                with contextlib.suppress(Exception):
                    from django.db import connections

                    connections.close_all()  # before the database is dropped


class Emulator:
    """The Xiaomi emulator through ``python -m pushworker.emulator``, and its /_emulator routes."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.production, self.sandbox = self._start(0, 0)
        _STARTED[self.production] = self

    def _start(self, port: int, sandbox_port: int) -> tuple[str, str]:
        command = [sys.executable, "-m", "pushworker.emulator", "--port", str(port)]
        with open(self.log, "ab") as errors:
            self.process = subprocess.Popen(
                [*command, "--sandbox-port", str(sandbox_port)],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                start_new_session=True,
            )
        assert self.process.stdout is not None
        try:
            urls = read_urls(self.process.stdout)
        except KeyError:
            raise SystemExit(f"the emulator did not start:\n{self.log.read_text()}") from None
        return urls["production_url"], urls["sandbox_url"]

    def down(self) -> None:
        """Stop the emulator: both hosts refuse connections until :meth:`up` (Xiaomi is down)."""
        stop(self.process)

    def up(self) -> None:
        """Start it again on the same two ports (its counters and faults start afresh)."""
        self._start(*(int(url.rsplit(":", 1)[1]) for url in (self.production, self.sandbox)))

    def _call(self, route: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.production}/_emulator/{route}",
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def stats(self) -> dict:
        """Counters of both environments since the last reset: requests, messages, by_outcome."""
        return self._call("stats")

    def reset(self) -> None:
        self._call("reset", {})

    def latency(self, ms: float) -> None:
        """Delay every API answer by ``ms`` (the emulator's ``latency_ms`` fault), both envs."""
        self.faults(latency_ms=ms)

    def faults(self, **settings: object) -> None:
        """Replace every fault setting (pushworker/emulator/faults.py ``Faults``), both envs."""
        self._call("faults", settings)

    @classmethod
    def from_env(cls) -> Emulator:
        """The emulator this process's environment points at: the one :func:`stack` started
        here (it can go down and up), else a handle on it (no new process)."""
        if os.environ["MIPUSH_PRODUCTION_URL"] in _STARTED:
            return _STARTED[os.environ["MIPUSH_PRODUCTION_URL"]]
        handle = cls.__new__(cls)
        handle.process = None  # type: ignore[assignment]
        handle.production = os.environ["MIPUSH_PRODUCTION_URL"]
        handle.sandbox = os.environ["MIPUSH_SANDBOX_URL"]
        return handle


@contextlib.contextmanager
def worker(
    tmp: Path,
    env: dict[str, str],
    concurrency: int = 2,
    log_level: str = "INFO",
    beat: bool = False,
) -> Iterator[subprocess.Popen]:
    """``celery -A pushworker worker -P prefork`` on every pushworker queue, ready (its log is
    ``tmp/worker.log``); stopped on the way out, so its ``returncode`` is then known. ``beat``
    embeds beat, as a production host runs it: the relay hands on retries whose time has come."""
    from pushworker.celery import worker_command  # after the stack's env: it reads settings

    log = tmp / "worker.log"
    schedule = str(tmp / "beat" / "schedule") if beat else None
    command = worker_command(
        "bench", concurrency=concurrency, log_level=log_level, beat_schedule=schedule
    )
    process = start_worker(command, env, tmp, log)
    try:
        wait_ready(process, log)
        yield process
    finally:
        stop(process)


def start_worker(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(worker: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until Celery logs "ready." (its pool children forked, consuming); exit on failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        if log.exists() and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise SystemExit(f"the worker did not get ready (exit {worker.poll()}):\n{tail}")


def stop(process: subprocess.Popen | None, timeout: float = 20) -> None:
    """SIGTERM (Celery's warm shutdown), then SIGKILL to the process group it leads."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


def park(redis_url: str, queue: str = QUEUE) -> int:
    """Move the queue's list aside so a worker can start and idle on an empty queue; its length."""
    import redis

    r = redis.Redis.from_url(redis_url)
    if not r.exists(queue):
        return 0
    r.rename(queue, f"{queue}.parked")
    return int(r.llen(f"{queue}.parked"))


def unpark(redis_url: str, queue: str = QUEUE) -> None:
    """Give the parked list back to the worker (one RENAME: every message at once)."""
    import redis

    r = redis.Redis.from_url(redis_url)
    if r.exists(f"{queue}.parked"):
        r.rename(f"{queue}.parked", queue)


# -- the worker's process tree, from /proc (Linux) ------------------------------------------------


def tree(root: int) -> list[int]:
    """``root`` and every process descending from it (Celery's pool children and theirs)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parents[int(entry.name)] = int(
                (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            )
    found, frontier = [root], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += children
        frontier = children
    return found


def cpu_seconds(root: int) -> float:
    """utime + stime of the tree, plus what its reaped children used (cutime + cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree(root):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in stat[11:15])
    return total / tick


def uss_bytes(root: int) -> int:
    """Unique set size of the tree: Private_Clean + Private_Dirty of each process, summed."""
    total = 0
    for pid in tree(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1]) * 1024
    return total


def result(data: dict) -> None:
    """The last line a bench script prints, read by bench/run.py (``_common.run_child``)."""
    print("RESULT " + json.dumps(data), flush=True)
