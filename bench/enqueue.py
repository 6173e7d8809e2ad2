"""What ``send_goods_visit.delay()`` costs the web process, as a ratio to a raw Redis LPUSH.

Usage: python bench/enqueue.py [--calls 5000] [--warmup 500] [--rounds 5] [--failure-calls 200]

A private redis-server on a free loopback port, a fresh SQLite database (and a fresh PostgreSQL
database too when PUSHWORKER_BENCH_DATABASE_URL names a server, e.g.
postgres://postgres@127.0.0.1:5432/postgres), no worker. One real message of send_goods_visit is
captured from the queue (LINDEX), then, interleaved in rounds so drift hits every variant alike:

* raw redis-py LPUSH of exactly those bytes (the baseline: one Redis round trip);
* stock Celery ``send_goods_visit.apply_async(kwargs=...)`` (what plain Celery costs);
* ``send_goods_visit.delay()`` with PUSHWORKER_ENQUEUE_OUTBOX=on-failure (publish only, within
  the enqueue budget on a publisher thread, which the caller waits for);
* ``send_goods_visit.delay()`` with PUSHWORKER_ENQUEUE_OUTBOX=always (the default: the backlog
  question, the Delivery row; the caller returns then, and a publisher thread publishes), with a
  queue below the backlog threshold;
* the same with PUSHWORKER_ENQUEUE_COMMIT=asynchronous (PostgreSQL only: the row's commit does
  not wait for the WAL flush);
* the same under a backlog (PUSHWORKER_BACKLOG_THRESHOLD=0): the row, no message of its own (a
  drain run would send it), the flag checked.

Then the failure path, each in a fresh process: ``.delay()`` × 200 with the broker refusing
connections (nothing listens on its port) and with a silent broker (accepts TCP, never answers).
The first call pays at most the budget (PUSHWORKER_ENQUEUE_BUDGET_MS, 250 ms); the breaker then
sends the rest straight to the outbox. Wall-clock numbers are printed, never asserted; compare the
ratios, which are measured in the same run. CPU per call is the whole process's (the publisher
threads' work included: each block waits for them before it reads the clock) and the calling
thread's alone; "messages" counts what reached the queue (none handed to the relay instead).

Back to back, a process does nothing but call ``.delay()``: a batch script. Its publisher threads
then compete with the caller for the GIL, and the caller's p99 shows it. A web thread calls it
between waits for its client, so the stock and the default variants run again paced
(``--pace-ms`` of sleep after each call): the caller's latency as a view sees it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    ROOT,
    SilentServer,
    database,
    free_port,
    ms,
    percentile,
    redis_binary,
    run_child,
    table,
    timed,
    versions,
)

QUEUE = "pushworker"
EVENT = {
    "owner_id": "1001",
    "visitor_id": "2002",
    "goods_id": "g-42",
    "goods_name": "青花瓷碗",
    "visitor_name": "小明",
}
VARIANTS = {
    "lpush": "raw redis-py LPUSH of the captured message",
    "apply_async": "stock Celery apply_async(kwargs=...)",
    "on-failure": ".delay(), PUSHWORKER_ENQUEUE_OUTBOX=on-failure",
    "always": ".delay(), PUSHWORKER_ENQUEUE_OUTBOX=always (default)",
    "asynchronous": ".delay(), always, PUSHWORKER_ENQUEUE_COMMIT=asynchronous",
    "backlog": ".delay(), always, under a backlog (no message)",
}
OUTBOX_VARIANTS = ("on-failure", "always", "asynchronous", "backlog")
FLAG = "pushworker:draining"


# -- children: one fresh interpreter per configuration (conf and celeryconfig are read once) ------


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import pushworker.celery  # noqa: F401 - the standalone app publishes


def _set_mode(mode: str) -> None:
    from pushworker import conf

    # The per-event variants keep the queue below the threshold whatever the bench has pushed.
    os.environ["PUSHWORKER_BACKLOG_THRESHOLD"] = "0" if mode == "backlog" else "1000000000"
    os.environ["PUSHWORKER_ENQUEUE_OUTBOX"] = "on-failure" if mode == "on-failure" else "always"
    os.environ["PUSHWORKER_ENQUEUE_COMMIT"] = (
        "asynchronous" if mode == "asynchronous" else "durable"
    )
    conf.get.cache_clear()
    conf.get()  # loaded here, not inside the first timed call


def child_happy(args: argparse.Namespace) -> dict:
    _django()
    import redis
    from django.db import connection

    from pushworker.producer import enqueue
    from pushworker.store.models import Delivery
    from pushworker.tasks import send_goods_visit

    r = redis.Redis.from_url(os.environ["PUSHWORKER_BROKER_URL"])
    r.delete(QUEUE)
    _set_mode("always")
    send_goods_visit.delay(**EVENT)
    enqueue.flush(10)  # the publish runs on a publisher thread
    message = r.lindex(QUEUE, 0)
    assert message, "no message was published"
    r.delete(QUEUE)

    calls = {
        "lpush": lambda: r.lpush(QUEUE, message),
        "apply_async": lambda: send_goods_visit.apply_async(kwargs=EVENT),
        "on-failure": lambda: send_goods_visit.delay(**EVENT),
        "always": lambda: send_goods_visit.delay(**EVENT),
        "asynchronous": lambda: send_goods_visit.delay(**EVENT),
        "backlog": lambda: send_goods_visit.delay(**EVENT),
    }
    if connection.vendor != "postgresql":  # SQLite has no asynchronous commit to ask for
        del calls["asynchronous"]

    def measure(names: list[str], calls_each: int, pause: float) -> dict[str, dict]:
        """Interleaved rounds of blocks of each variant, ``pause`` s of sleep after each call."""
        found = {
            n: {"latencies": [], "wall": 0.0, "cpu": 0.0, "caller_cpu": 0.0, "messages": 0}
            for n in names
        }
        block = max(1, calls_each // args.rounds)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                if name in OUTBOX_VARIANTS:
                    _set_mode(name)
                # CPU of the whole process (the publisher threads' too, counted once they are
                # done) and of the calling thread alone.
                cpu, caller_cpu = time.process_time(), time.thread_time()
                latencies, wall = timed(calls[name], block, pause)
                caller_cpu = time.thread_time() - caller_cpu
                enqueue.flush(10)
                found[name]["cpu"] += time.process_time() - cpu
                found[name]["caller_cpu"] += caller_cpu
                found[name]["latencies"] += latencies
                found[name]["wall"] += wall
                found[name]["messages"] += r.llen(QUEUE)  # none handed to the relay instead
                r.delete(QUEUE, FLAG)
        return found

    for name in calls:  # warm-up: connections, pools, publisher threads, Django's statement cache
        if name in OUTBOX_VARIANTS:
            _set_mode(name)
        timed(calls[name], args.warmup)
        enqueue.flush(10)
        r.delete(QUEUE, FLAG)
    results = measure(list(calls), args.calls, 0.0)
    paced_names = [n for n in ("apply_async", "always", "asynchronous") if n in calls]
    paced = measure(paced_names, args.paced_calls, args.pace_ms / 1000)
    rows = Delivery.objects.count()
    return {
        "message_bytes": len(message),
        "results": results,
        "paced": paced,
        "delivery_rows": rows,
    }


def child_failure(args: argparse.Namespace) -> dict:
    _django()
    from pushworker import conf
    from pushworker.producer import enqueue
    from pushworker.store.models import Delivery
    from pushworker.tasks import send_goods_visit

    Delivery.objects.all().delete()  # also opens the DB connection outside the timed calls
    settings = conf.get()
    latencies, wall = timed(lambda: send_goods_visit.delay(**EVENT), args.failure_calls)
    kept = Delivery.objects.filter(status="queued", published_at__isnull=True).count()
    return {
        "latencies": latencies,
        "wall": wall,
        "kept": kept,
        "budget": settings.enqueue_budget_seconds,
        "cooldown": settings.breaker_cooldown_seconds,
        "mode": settings.enqueue_outbox,
        "breaker_open": not enqueue.breaker.allows(),
    }


# -- the parent: start things, run the children, print ------------------------------------------


def _env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("PUSHWORKER_", "MIPUSH_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "pushworker.settings",
            "PUSHWORKER_LOG_LEVEL": "ERROR",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls per variant first")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved blocks per variant")
    parser.add_argument("--paced-calls", type=int, default=1000, help="timed paced calls")
    parser.add_argument("--pace-ms", type=float, default=2.0, help="sleep after each paced call")
    parser.add_argument("--failure-calls", type=int, default=200)
    parser.add_argument("--child", choices=("happy", "failure"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (child_happy if args.child == "happy" else child_failure)(args)
        print("RESULT " + json.dumps(result))
        return 0

    from pushworker.demo.localredis import LocalRedis

    started = time.monotonic()
    binary = redis_binary()
    passthrough = [
        "--calls",
        str(args.calls),
        "--warmup",
        str(args.warmup),
        "--rounds",
        str(args.rounds),
        "--paced-calls",
        str(args.paced_calls),
        "--pace-ms",
        str(args.pace_ms),
        "--failure-calls",
        str(args.failure_calls),
    ]
    script = Path(__file__).resolve()
    print(f"enqueue benchmark: {versions(binary)}")
    with tempfile.TemporaryDirectory(prefix="pushworker-bench-") as tmp_name:
        tmp = Path(tmp_name)
        summary: dict[str, dict] = {}
        servers = [None]
        if os.environ.get("PUSHWORKER_BENCH_DATABASE_URL"):
            servers.append(os.environ["PUSHWORKER_BENCH_DATABASE_URL"])
        with LocalRedis(tmp / "redis", binary=binary) as redis_server:
            for server in servers:
                with database(tmp, server) as (label, url):
                    env = _env(
                        dict(os.environ),
                        PUSHWORKER_DATABASE_URL=url,
                        PUSHWORKER_HOME=str(tmp),
                        PUSHWORKER_BROKER_URL=redis_server.url,
                    )
                    happy = run_child(script, ["--child", "happy", *passthrough], env, timeout=300)
                    _print_happy(label, happy, args)
                    summary[("postgres" if server else "sqlite")] = _summary(label, happy)
                    if server is None:
                        failure_env = env
        _print_failures(script, passthrough, failure_env, args)
    print("RESULT " + json.dumps(summary))
    print(
        f"\n(total {time.monotonic() - started:.0f} s; single runs on a shared machine vary by "
        "10-20 %: compare ratios, not absolute times)"
    )
    return 0


def _figures(numbers: dict) -> dict:
    lat = numbers["latencies"]
    return {
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "cpu": numbers["cpu"] / len(lat),  # s per call, the publisher threads' work included
        "caller_cpu": numbers["caller_cpu"] / len(lat),
    }


def _summary(label: str, happy: dict) -> dict:
    """p50, p99 and CPU per call (s) of each variant, for bench/run.py; ``paced`` holds the
    paced measurement's."""
    out: dict = {"database": label}
    out |= {name: _figures(numbers) for name, numbers in happy["results"].items()}
    out["paced"] = {name: _figures(numbers) for name, numbers in happy["paced"].items()}
    return out


def _rows(results: dict, messages: bool) -> list[list]:
    base = percentile(results["lpush"]["latencies"], 50) if "lpush" in results else None
    stock = percentile(results["apply_async"]["latencies"], 50)
    rows = []
    for name, title in VARIANTS.items():
        if name not in results:
            continue
        numbers = results[name]
        lat = numbers["latencies"]
        p50 = percentile(lat, 50)
        rows.append(
            [
                title,
                len(lat),
                f"{len(lat) / numbers['wall']:,.0f}",
                ms(p50),
                ms(percentile(lat, 99)),
                ms(percentile(lat, 99.9)),
                ms(max(lat)),
                *([f"{p50 / base:.2f}x"] if base else []),
                f"{p50 / stock:.2f}x",
                ms(numbers["cpu"] / len(lat)),
                ms(numbers["caller_cpu"] / len(lat)),
                *([numbers["messages"]] if messages else []),
            ]
        )
    return rows


def _print_happy(label: str, happy: dict, args: argparse.Namespace) -> None:
    head = ["variant", "calls", "calls/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"]
    cpu = ["CPU ms/call", "caller CPU ms/call"]
    print(
        f"\nhappy path, database {label}, no worker; message {happy['message_bytes']} bytes; "
        f"{args.rounds} interleaved rounds, {args.warmup} warm-up calls per variant; back to back"
    )
    headers = [*head, "p50 / LPUSH p50", "p50 / apply_async p50", *cpu, "messages"]
    print(table(headers, _rows(happy["results"], messages=True)))
    print(f"\npaced: {args.pace_ms:g} ms of sleep after each call (a web thread between requests)")
    print(table([*head, "p50 / apply_async p50", *cpu], _rows(happy["paced"], messages=False)))


def _print_failures(
    script: Path, passthrough: list[str], env: dict[str, str], args: argparse.Namespace
) -> None:
    silent = SilentServer()
    try:
        cases = [
            (
                "refused: nothing listens on the port",
                f"redis://127.0.0.1:{free_port()}/0",
                "always",
            ),
            ("silent: accepts TCP, never answers", silent.url, "always"),
            ("silent, PUSHWORKER_ENQUEUE_OUTBOX=on-failure", silent.url, "on-failure"),
        ]
        rows = []
        budget = cooldown = 0.0
        for title, url, mode in cases:
            result = run_child(
                script,
                ["--child", "failure", *passthrough],
                env | {"PUSHWORKER_BROKER_URL": url, "PUSHWORKER_ENQUEUE_OUTBOX": mode},
                timeout=120,
            )
            lat = result["latencies"]
            budget, cooldown = result["budget"], result["cooldown"]
            rows.append(
                [
                    title,
                    len(lat),
                    ms(lat[0], 1),
                    ms(percentile(lat[1:], 50)),
                    ms(percentile(lat[1:], 99)),
                    ms(max(lat[1:])),
                    sum(1 for x in lat if x > 0.05),
                    f"{result['kept']}/{len(lat)}",
                    f"{max(lat) / budget:.2f}",
                ]
            )
    finally:
        silent.close()
    print(
        f"\nfailure path: {args.failure_calls} x .delay() per broker, fresh process each, "
        f"budget {budget * 1000:.0f} ms, breaker cool-down {cooldown:g} s, SQLite"
    )
    print(
        table(
            [
                "broker",
                "calls",
                "1st call ms",
                "p50 ms (rest)",
                "p99 ms (rest)",
                "max ms (rest)",
                "calls > 50 ms",
                "kept in outbox",
                "max / budget",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
