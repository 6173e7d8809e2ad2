"""The fault report: every scenario of issue #4 against the real pipeline, as one table.

Usage: python bench/faults.py [--only 1,7a,11] [--list] [--full]      (also: make faults-report)

Runs the scenarios of tests/faults/scenarios/, the same code the fault tests run, on one test
stack (a private redis-server, the emulator, real ``celery worker`` subprocesses, SQLite or the
PostgreSQL named by PUSHWORKER_TEST_DATABASE_URL), and prints per fault: events, sent, lost,
duplicated (extra sends the emulator accepted) and the recovery time: from the moment the fault
was injected or cured (kill, restart, Redis back, first enqueue for Xiaomi faults) to the last
event finished. A scenario whose promise failed is shown as FAIL with its reason. Exit status 1
when any scenario failed or lost an event.

A long scenario runs scaled down, as in the fault tests, unless ``--full`` is given: then the
outage of scenario 16 lasts its ten minutes with the default outage settings (about 12 minutes
a variant; ``make faults-report-full`` runs the four of them).
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import tempfile
import time
import traceback
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/faults.py` from a checkout
    sys.path.insert(0, str(ROOT))

HEADERS = ("#", "fault", "events", "sent", "lost", "duplicated", "recovery time (s)", "")


def table(rows: list[tuple[str, ...]]) -> str:
    from pushworker.demo.tables import table as columns

    return columns(HEADERS, rows, left=(0, 1, 7), indent="")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated scenario keys, e.g. 1,7a,11")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--full", action="store_true", help="long scenarios at full length (a 600 s outage)"
    )
    args = parser.parse_args()

    from tests.faults import scenarios

    wanted = set(args.only.split(",")) - {""}
    chosen = [s for s in scenarios.SCENARIOS if not wanted or s[0] in wanted]
    if args.list or not chosen:
        for key, run, options in scenarios.SCENARIOS:
            doc = (run.__doc__ or "").strip().splitlines()
            print(f"{key:>4}  {run.__name__}({_notes(options)}): {doc[0] if doc else ''}")
        return 0 if chosen else 2

    from tests.support.stack import Stack

    rows: list[tuple[str, ...]] = []
    failed = False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pushworker-faults-") as tmp:
        stack = Stack(Path(tmp))
        # After Django configured logging: the web side's own outbox warnings would drown the table.
        logging.getLogger("pushworker").setLevel(logging.ERROR)
        try:
            for key, run, options in chosen:
                stack.reset()
                print(f"[{time.monotonic() - started:6.1f} s] scenario {key} ...", flush=True)
                if args.full and "scale" in inspect.signature(run).parameters:
                    options = options | {"scale": 1.0}
                try:
                    result = run(stack, **options)
                except unittest.SkipTest as reason:  # needs what this run lacks (PostgreSQL)
                    rows.append((key, run.__name__, "-", "-", "-", "-", "-", f"skipped: {reason}"))
                    continue
                except Exception as error:  # noqa: BLE001 - reported as a failed row
                    failed = True
                    reason = (
                        str(error).splitlines()[0][:120] if str(error) else type(error).__name__
                    )
                    rows.append((key, "?", "-", "-", "-", "-", "-", f"FAIL: {reason}"))
                    traceback.print_exc()
                    continue
                failed |= result.lost > 0
                rows.append(
                    (
                        key,
                        result.fault,
                        str(result.events),
                        str(result.sent),
                        str(result.lost),
                        str(result.duplicated),
                        "-" if result.recovery_s is None else f"{result.recovery_s:.1f}",
                        _notes(result.facts),
                    )
                )
        finally:
            stack.close()
    print()
    print(table(rows))
    print(
        f"\n{len(rows)} scenarios in {time.monotonic() - started:.0f} s; "
        f"database {'PostgreSQL' if 'postgres' in stack.database_url else 'SQLite'}"
    )
    return 1 if failed else 0


def _notes(facts: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in facts.items())


if __name__ == "__main__":
    sys.exit(main())
