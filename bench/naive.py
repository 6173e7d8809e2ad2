"""The naive peer: a plain Celery task calling the Xiaomi client, with no records; its drain rate.

Usage: python bench/naive.py [--events 5000] [--owners 200] [--concurrency 2]

What a team would write instead of pushworker: one task per event that builds the same Android
fields and calls ``pushworker.mipush.Client.send_to_alias`` once, with Celery's defaults (early
ack, prefetch 4), no database, no device lookup, no retries and no guarantees. This module is
also that task's Celery app (``celery -A naive worker``, run from bench/), on the same kind of
private Redis as the worker under test, drained the same way as bench/drain.py: N messages are
published with ``.delay()`` and no worker running, the list is parked, ``celery -A naive worker
-P prefork -c 2`` starts and idles, the list is given back. Each task, after its send, records
its start and finish in Redis in one pipelined round trip; the rate is events / (last finish −
first start), the same span drain.py takes from the database.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from celery import Celery

QUEUE = "naive"
app = Celery("naive", broker=os.environ.get("PUSHWORKER_BROKER_URL", "redis://127.0.0.1:1/0"))
app.conf.task_default_queue = QUEUE
app.conf.worker_hijack_root_logger = False
_client = None
_marks = None  # one Redis connection pool per process, as the Client keeps its HTTP connections


@app.task(name="naive.send_goods_visit", ignore_result=True)
def send_goods_visit(
    owner_id: str, visitor_id: str, goods_id: str, goods_name: str, visitor_name: str
) -> None:
    """Send the visit to the owner's alias; nothing recorded but the benchmark's timing marks."""
    global _client, _marks
    import uuid

    import redis

    from pushworker.delivery.content import android_fields
    from pushworker.events.goods_visit import notification
    from pushworker.mipush import Client, Endpoints

    start = time.time()
    if _client is None:
        _client = Client(
            os.environ["MIPUSH_ANDROID_APP_SECRET"],
            endpoints=Endpoints(
                os.environ["MIPUSH_PRODUCTION_URL"], os.environ["MIPUSH_SANDBOX_URL"]
            ),
        )
    note = notification(
        event_id=str(uuid.uuid4()),
        nickname=visitor_name,
        goods_id=goods_id,
        goods_name=goods_name,
    )
    fields = android_fields(note, package=os.environ["MIPUSH_ANDROID_PACKAGE_NAME"])
    _client.send_to_alias(fields, [f"QQC_{owner_id}"])
    if _marks is None:
        _marks = redis.Redis.from_url(app.conf.broker_url)
    _marks.pipeline(transaction=False).setnx("naive:first", start).set(
        "naive:last", time.time()
    ).incr("naive:done").execute()


def run(events: int, owners: int, concurrency: int) -> dict:
    import subprocess

    import redis

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _stack import Emulator, cpu_seconds, park, start_worker, stop, unpark, wait_ready

    here = Path(__file__).resolve().parent
    tmp = Path(os.environ["PUSHWORKER_HOME"])
    r = redis.Redis.from_url(os.environ["PUSHWORKER_BROKER_URL"])
    fill_start = time.monotonic()
    for i in range(events):
        send_goods_visit.delay(str(i % owners), str(10_000 + i), f"g-{i % 97}", "青花瓷碗", "小明")
    fill = time.monotonic() - fill_start
    park(os.environ["PUSHWORKER_BROKER_URL"], QUEUE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(here), env.get("PYTHONPATH", "")])
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "naive",
        "worker",
        "-l",
        "INFO",
        "-P",
        "prefork",
        "-c",
        str(concurrency),
        "-Q",
        QUEUE,
        "--without-gossip",
        "--without-mingle",
        "-n",
        "naive@%h",
    ]
    log = tmp / "naive.log"
    emulator = Emulator.from_env()
    started = time.monotonic()
    worker: subprocess.Popen | None = start_worker(command, env, here, log)
    try:
        wait_ready(worker, log)
        time.sleep(0.5)  # as drain.py: the pool children's own start-up is not the drain
        cpu_idle = cpu_seconds(worker.pid)
        emulator.reset()
        t0 = time.monotonic()
        unpark(os.environ["PUSHWORKER_BROKER_URL"], QUEUE)
        done = 0
        while time.monotonic() - t0 < 120 and worker.poll() is None:
            done = int(r.get("naive:done") or 0)
            if done >= events:
                break
            time.sleep(0.2)  # the poll shares the worker's CPUs; rates come from timestamps
        wall = time.monotonic() - t0
        cpu = cpu_seconds(worker.pid) - cpu_idle
        requests = emulator.stats()["requests"]
    finally:
        stop(worker)
    seconds = float(r.get("naive:last") or 0) - float(r.get("naive:first") or 0)
    return {
        "events": events,
        "done": done,
        "rate": done / seconds if seconds > 0 else float("nan"),
        "seconds": seconds,
        "wall": wall,
        "wall_rate": done / wall,
        "startup_wall": t0 - started + wall,
        "fill_s": fill,
        "cpu_ms_per_event": cpu * 1000 / max(done, 1),
        "requests": requests,
    }


def main() -> int:
    import argparse

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import redis_binary, versions
    from _stack import result, stack

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    print(f"naive peer benchmark: {versions(redis_binary())}")
    with stack("sqlite", "INFO"):  # the database stays empty: the naive task writes nothing
        app.conf.broker_url = os.environ["PUSHWORKER_BROKER_URL"]
        r = run(args.events, args.owners, args.concurrency)
    print(
        f"naive peer (plain Celery task -> Client.send_to_alias, prefork -c {args.concurrency}): "
        f"{r['done']}/{r['events']} events, {r['rate']:,.0f}/s first start → last finish "
        f"({r['seconds']:.2f} s), {r['wall_rate']:,.0f}/s from giving the queue back, "
        f"{r['startup_wall']:.1f} s including worker start-up; worker CPU "
        f"{r['cpu_ms_per_event']:.2f} ms/event; {r['requests']} requests"
    )
    result(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
