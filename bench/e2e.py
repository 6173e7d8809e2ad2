"""End-to-end pushes/s of a real worker, as a ratio to the HTTP client's own ceiling.

Usage: python bench/e2e.py [--events 2000] [--concurrency 2] [--client-calls 2000]
                           [--log-level INFO]

A private redis-server, the Xiaomi emulator (its real command line, in a subprocess) and a fresh
SQLite database (PostgreSQL when PUSHWORKER_BENCH_DATABASE_URL names a server). With no worker
running, N goods-visit events are enqueued through send_goods_visit.delay() (the web path, outbox
on), for 100 owners with one Android device each. Then ``celery -A pushworker worker -P prefork
-c 2`` starts and drains the queue; the rate is N / (last Delivery.finished_at - first
Delivery.claimed_at), taken from the database, so worker start-up is not counted.

The baseline, measured in the same run against the same emulator: a Python tight loop calling
``pushworker.mipush.Client.send_to_alias`` with the fields the worker builds (the client ceiling),
once with one loop and once with ``--concurrency`` loops in parallel processes (the same number of
senders as the worker's pool). Everything the worker adds (Celery, the claim, attempt records,
logging) shows up in the ratio. Nothing is asserted about wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, database, ms, percentile, redis_binary, table, timed, versions  # noqa: E402
from _stack import stop  # noqa: E402

from pushworker.emulator.logs import read_urls  # noqa: E402

PACKAGE = "com.example.shop"
OWNERS = 100


def _fields() -> dict[str, str]:
    from pushworker.delivery.content import android_fields
    from pushworker.events.goods_visit import notification

    note = notification(
        event_id="6f1c1d1e-0000-4000-8000-000000000001",
        nickname="小明",
        goods_id="g-42",
        goods_name="青花瓷碗",
    )
    return android_fields(note, package=PACKAGE)


def client_loop(calls: int) -> dict:
    """The client ceiling: the worker's HTTP client in a tight loop, one request at a time."""
    import httpx

    from pushworker.mipush import Client, Endpoints

    client = Client(
        os.environ["MIPUSH_ANDROID_APP_SECRET"],
        endpoints=Endpoints(
            production=os.environ["MIPUSH_PRODUCTION_URL"], sandbox=os.environ["MIPUSH_SANDBOX_URL"]
        ),
        timeout=httpx.Timeout(5.0, connect=3.0),
    )
    fields = _fields()
    n = iter(range(10**9))
    timed(lambda: client.send_to_alias(fields, [f"QQC_{next(n) % OWNERS}"]), min(200, calls))
    latencies, wall = timed(
        lambda: client.send_to_alias(fields, [f"QQC_{next(n) % OWNERS}"]), calls
    )
    return {"latencies": latencies, "wall": wall}


def _start_emulator(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str, str]:
    with open(log, "ab") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "pushworker.emulator", "--port", "0", "--sandbox-port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    assert process.stdout is not None
    try:
        urls = read_urls(process.stdout)
    except KeyError:
        raise SystemExit(f"the emulator did not start:\n{log.read_text()}") from None
    return process, urls["production_url"], urls["sandbox_url"]


def _emulator_stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:
        return json.load(response)


def _reset_emulator(url: str) -> None:
    request = urllib.request.Request(f"{url}/_emulator/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def _parallel_clients(count: int, calls: int, env: dict[str, str]) -> tuple[float, list[float]]:
    """``count`` client loops in separate processes, started together; aggregate rate."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child-client", str(calls)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        results.append(json.loads(out.strip().splitlines()[-1]))
    latencies = [x for r in results for x in r["latencies"]]
    return len(latencies) / max(r["wall"] for r in results), latencies


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat; (0, 0) where there is none."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _role(pid: int, cmd: str) -> str:
    program = Path(cmd.split(" ", 1)[0]).name
    if "celery -A pushworker worker" in cmd:
        return "worker"
    if program == "postgres" or cmd.startswith("postgres:"):
        return "database server"
    if "redis-server" in program:
        return "redis-server"
    if "pushworker.emulator" in cmd:
        return "emulator"
    return "benchmark (poller)" if pid == os.getpid() else ""


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    """{pid: (role, CPU seconds)} of the processes a run involves (Linux /proc only).

    Counts each process's own time plus that of its exited children, so short-lived PostgreSQL
    backends show up under the postmaster once they are gone.
    """
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        role = _role(int(entry.name), cmd)
        if role:
            found[int(entry.name)] = (role, sum(int(x) for x in stat[11:15]) / tick)
    return found


def _prefill(events: int, broker_url: str) -> tuple[list[float], float]:
    """Set Django up, register the owners' devices, enqueue ``events`` through the web path."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import pushworker.celery  # noqa: F401 - the standalone app publishes
    from pushworker.store.models import Delivery, PushDevice
    from pushworker.tasks import send_goods_visit

    PushDevice.objects.bulk_create(
        PushDevice(user_id=str(n), app_name="qqc", os_type="android") for n in range(OWNERS)
    )
    n = iter(range(10**9))

    def visit() -> None:
        i = next(n)
        send_goods_visit.delay(
            owner_id=str(i % OWNERS),
            visitor_id=str(10_000 + i),
            goods_id="g-42",
            goods_name="青花瓷碗",
            visitor_name="小明",
        )

    latencies, wall = timed(visit, events)
    # Not one message per event: under a backlog the outbox rows are the queue (issue #9).
    rows = Delivery.objects.count()
    assert rows == events, f"{rows} deliveries recorded, expected {events}"
    return latencies, wall


def _start_worker(env: dict[str, str], tmp: Path, args: argparse.Namespace) -> subprocess.Popen:
    from pushworker.celery import worker_command

    with open(tmp / "worker.log", "ab") as log:
        return subprocess.Popen(
            worker_command("bench", concurrency=args.concurrency, log_level=args.log_level),
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_drained(worker: subprocess.Popen, events: int, timeout: float) -> int:
    from pushworker.store.models import TERMINAL_STATUSES, Delivery

    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline and worker.poll() is None:
        done = Delivery.objects.filter(status__in=TERMINAL_STATUSES).count()
        if done >= events:
            break
        time.sleep(0.2)
    return done


def _outcome() -> tuple[float, dict[str, int]]:
    from django.db.models import Count, Max, Min

    from pushworker.store.models import Delivery

    span = Delivery.objects.aggregate(first=Min("claimed_at"), last=Max("finished_at"))
    counts = Delivery.objects.values_list("status").annotate(c=Count("id"))
    return (span["last"] - span["first"]).total_seconds(), dict(counts.values_list("status", "c"))


def run(args: argparse.Namespace, tmp: Path, redis_url: str) -> dict:
    """Everything that needs the database, the emulator and the worker; returns the numbers."""
    worker = emulator = None
    with database(tmp, os.environ.get("PUSHWORKER_BENCH_DATABASE_URL")) as (label, db_url):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHWORKER_", "MIPUSH_"))}
        env |= {
            "DJANGO_SETTINGS_MODULE": "pushworker.settings",
            # A PYTHONPATH given by the caller comes first (e.g. to try another celeryconfig).
            "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)])),
            "PUSHWORKER_DATABASE_URL": db_url,
            "PUSHWORKER_HOME": str(tmp),
            "PUSHWORKER_BROKER_URL": redis_url,
            "PUSHWORKER_BEAT_SCHEDULE": str(tmp / "beat"),
            "PUSHWORKER_LOG_LEVEL": args.log_level,
            "MIPUSH_ANDROID_APP_SECRET": secrets.token_urlsafe(24),
            "MIPUSH_ANDROID_PACKAGE_NAME": PACKAGE,
        }
        try:
            emulator, production, sandbox = _start_emulator(env, tmp / "emulator.log")
            env |= {"MIPUSH_PRODUCTION_URL": production, "MIPUSH_SANDBOX_URL": sandbox}
            os.environ.clear()
            os.environ.update(env)

            # 1. the client ceiling: same emulator, same fields, no Celery, no database
            one = client_loop(args.client_calls)
            many_rate, many_lat = _parallel_clients(args.concurrency, args.client_calls, env)
            _reset_emulator(production)

            # 2. pre-fill through the web path with no worker running
            fill_lat, fill_wall = _prefill(args.events, redis_url)

            # 3. a worker drains the queue
            cpu_start, per_process_start = _cpu_times(), _cpu_by_process()
            t_start = time.monotonic()
            worker = _start_worker(env, tmp, args)
            done = _wait_drained(worker, args.events, timeout=120)
            t_all = time.monotonic() - t_start
            cpu_end, per_process_end = _cpu_times(), _cpu_by_process()
            if done < args.events:
                tail = (tmp / "worker.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"only {done}/{args.events} finished in 120 s:\n{tail}")
            drain, statuses = _outcome()
            accepted = _emulator_stats(production).get("messages")
        finally:
            stop(worker)
            stop(emulator)
            from django.db import connections

            connections.close_all()  # before the benchmark database is dropped
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for name in ("worker.log", "emulator.log"):
                    if (tmp / name).exists():
                        shutil.copy(tmp / name, args.keep_logs / name)
    spent: dict[str, float] = {}
    for pid, (role, seconds) in per_process_end.items():
        spent[role] = spent.get(role, 0.0) + seconds - per_process_start.get(pid, (role, 0.0))[1]
    busy = (
        (cpu_end[0] - cpu_start[0]) / (cpu_end[1] - cpu_start[1])
        if cpu_end[1] > cpu_start[1]
        else float("nan")
    )
    return {
        "label": label,
        "one": one,
        "many_rate": many_rate,
        "many_lat": many_lat,
        "fill_lat": fill_lat,
        "fill_wall": fill_wall,
        "t_all": t_all,
        "drain": drain,
        "statuses": statuses,
        "accepted": accepted,
        "busy": busy,
        "spent": spent,
    }


def report(r: dict, args: argparse.Namespace) -> bool:
    one_lat = r["one"]["latencies"]
    one_rate = len(one_lat) / r["one"]["wall"]
    many_rate, e2e = r["many_rate"], args.events / r["drain"]
    n = args.concurrency
    print(
        f"\ndatabase {r['label']}; worker prefork -c {n}, log level {args.log_level}, "
        "acks_late, prefetch 1, no beat; emulator without latency"
    )
    print(
        table(
            [
                "what",
                "requests",
                "per s",
                "p50 ms",
                "p99 ms",
                "vs 1 client loop",
                f"vs {n} client loops",
            ],
            [
                [
                    "client ceiling: 1 loop of Client.send_to_alias",
                    len(one_lat),
                    f"{one_rate:,.0f}",
                    ms(percentile(one_lat, 50)),
                    ms(percentile(one_lat, 99)),
                    "1.00",
                    "",
                ],
                [
                    f"client ceiling: {n} loops in parallel processes",
                    len(r["many_lat"]),
                    f"{many_rate:,.0f}",
                    ms(percentile(r["many_lat"], 50)),
                    ms(percentile(r["many_lat"], 99)),
                    f"{many_rate / one_rate:.2f}",
                    "1.00",
                ],
                [
                    f"end to end: worker drains {args.events} pre-filled events",
                    args.events,
                    f"{e2e:,.0f}",
                    "",
                    "",
                    f"{e2e / one_rate:.2f}",
                    f"{e2e / many_rate:.2f}",
                ],
            ],
        )
    )
    print(
        f"\nchecks: deliveries {r['statuses']}; emulator accepted {r['accepted']} messages "
        f"for {args.events} events"
    )
    print(
        f"pre-fill: {args.events} x .delay() in {r['fill_wall']:.1f} s (p50 "
        f"{ms(percentile(r['fill_lat'], 50))} ms); worker start to last delivery "
        f"{r['t_all']:.1f} s; drain (first claim to last finish) {r['drain']:.1f} s"
    )
    print(
        f"CPU busy from worker start to last delivery: {r['busy']:.0%} of {os.cpu_count()} CPUs; "
        "CPU ms per event: "
        + ", ".join(
            f"{role} {seconds * 1000 / args.events:.1f}"
            for role, seconds in sorted(r["spent"].items(), key=lambda item: -item[1])
        )
    )
    return r["statuses"] == {"sent": args.events} and r["accepted"] == args.events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool size (prefork)")
    parser.add_argument("--client-calls", type=int, default=2000)
    parser.add_argument("--log-level", default="INFO", help="worker and pushworker log level")
    parser.add_argument("--keep-logs", type=Path, help="copy the worker and emulator logs here")
    parser.add_argument("--child-client", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_client:
        print(json.dumps(client_loop(args.child_client)))
        return 0

    from pushworker.demo.localredis import LocalRedis

    started = time.monotonic()
    binary = redis_binary()
    print(f"end-to-end benchmark: {versions(binary)}")
    with tempfile.TemporaryDirectory(prefix="pushworker-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        with LocalRedis(tmp / "redis", binary=binary) as redis_server:
            result = run(args, tmp, redis_server.url)
    ok = report(result, args)
    print(f"(total {time.monotonic() - started:.0f} s; compare ratios, not absolute rates)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
