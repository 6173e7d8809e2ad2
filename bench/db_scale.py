"""Do pushworker's queries stay fast at millions of deliveries? Plans, timings and bytes per event.

PostgreSQL: creates a database next to ``--database-url``, migrates it, fills ``--small`` deliveries
(``INSERT … SELECT generate_series``: mostly finished ones spread over 60 days, their attempts, and
a constant few hundred pending ones), times every hot-path query (docs/queries.md) and keeps its
``EXPLAIN``; grows the tables to ``--rows`` and does it again; reports each query's time as a ratio
to the small table, whether its plan scans a whole table, bytes per event, and the purge's rate
(the real ``pushworker.store.purge``, for ``--purge-seconds``). The database is dropped at the end.
SQLite: the same fill in a fresh file (``--sqlite-rows``), bytes per event only.

    .venv/bin/python bench/db_scale.py                      # 5 M rows; a few minutes
    .venv/bin/python bench/db_scale.py --rows 2000 --small 1000 --json out.json   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _common  # noqa: F401 - puts the checkout on sys.path
from _dbfill import fill_pending_sql, grow
from _dbqueries import QUERIES

SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
PENDING = 300  # queued, unpublished, sending and retrying rows: the same at every table size
REPEAT = 25


def _setup_django(url: str) -> None:
    os.environ["PUSHWORKER_DATABASE_URL"] = url
    os.environ.setdefault("PUSHWORKER_SECRET_KEY", secrets.token_urlsafe(40))
    os.environ["DJANGO_SETTINGS_MODULE"] = "pushworker.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _params(cursor: Any, size: int, batch: list[int]) -> dict[str, Any]:
    import random

    i = random.randint(1, size)
    cursor.execute(
        "SELECT id, event_id, recipient_id, subject_id, trace_id FROM pushworker_delivery "
        "WHERE event_id = %s",
        [uuid.UUID(_event_uuid(i))],
    )
    row = cursor.fetchone()
    short = row[1].hex[:8]  # what the admin list shows and its search turns into a range
    return {
        "id": row[0],
        "event_id": row[1],
        "recipient_id": row[2],
        "subject_id": row[3],
        "trace_id": row[4],
        "short_id": short,
        "event_low": uuid.UUID(short.ljust(32, "0")),
        "event_high": uuid.UUID(short.ljust(32, "f")),
        "new_event_id": uuid.uuid4(),
        "batch": batch,
    }


def _expired_batch(cursor: Any) -> list[int]:
    """The ids the purge's first batch would take (``= ANY`` of them is the ORM's ``IN``)."""
    cursor.execute(
        "SELECT id FROM pushworker_delivery WHERE status IN ('sent', 'suppressed', 'failed') "
        "AND finished_at < now() - interval '30 days' ORDER BY finished_at LIMIT 1000"
    )
    return [row[0] for row in cursor.fetchall()]


def _event_uuid(i: int) -> str:
    import hashlib

    return str(uuid.UUID(hashlib.md5(f"e{i}".encode()).hexdigest()))


def _scans(plan: dict) -> tuple[set[str], set[str]]:
    """(relations read by a sequential scan, indexes used) anywhere in a JSON plan."""
    seq, indexes = set(), set()
    stack = [plan["Plan"]]
    while stack:
        node = stack.pop()
        if node["Node Type"] == "Seq Scan":
            seq.add(node["Relation Name"])
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        stack.extend(node.get("Plans", []))
    return seq, indexes


def measure(conn: Any, size: int) -> dict[str, dict]:
    """Median time and plan of every query against the current tables."""
    results = {}
    with conn.cursor() as cursor:
        cursor.execute("ANALYZE")
        batch = _expired_batch(cursor)
        for name, sql, write in QUERIES:
            times = []
            for n in range(REPEAT + 1):
                params = _params(cursor, size, batch)
                started = time.perf_counter()
                cursor.execute(sql, params)
                if cursor.description:
                    cursor.fetchall()
                elapsed = time.perf_counter() - started
                if write:
                    conn.rollback()
                if n:  # the first run warms the cache
                    times.append(elapsed)
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, _params(cursor, size, batch))
            plan = cursor.fetchone()[0][0]
            conn.rollback()
            seq, indexes = _scans(plan)
            results[name] = {
                "ms": statistics.median(times) * 1000,
                "seq_scan": sorted(seq),
                "indexes": sorted(indexes),
            }
    return results


def bytes_per_event_pg(conn: Any) -> dict[str, float]:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size('pushworker_delivery'), "
            "pg_total_relation_size('pushworker_deliveryattempt'), "
            "pg_relation_size('pushworker_delivery'), "
            "pg_relation_size('pushworker_deliveryattempt'), "
            "(SELECT count(*) FROM pushworker_delivery)"
        )
        total_d, total_a, heap_d, heap_a, rows = cursor.fetchone()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid IN ('pushworker_delivery'::regclass, "
            "'pushworker_deliveryattempt'::regclass)"
        )
        per_index = {name: size / rows for name, size in cursor.fetchall()}
    conn.rollback()
    return {
        "rows": rows,
        "total": (total_d + total_a) / rows,
        "heap": (heap_d + heap_a) / rows,
        "indexes": (total_d + total_a - heap_d - heap_a) / rows,
        "heap_delivery": heap_d / rows,
        "heap_attempt": heap_a / rows,
        "per_index": per_index,
    }


def purge_rate(seconds: float) -> dict[str, float]:
    from pushworker.conf.retention import RetentionSettings
    from pushworker.store import purge

    report = purge.purge(rules=RetentionSettings(), max_seconds=seconds)
    return {
        "deliveries": report.deliveries,
        "attempts": report.attempts,
        "seconds": report.seconds,
        "per_second": report.deliveries / report.seconds,
    }


def run_postgres(args: argparse.Namespace) -> dict:
    import psycopg

    name = f"pushworker_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(args.database_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = args.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        _setup_django(url)
        conn = psycopg.connect(url)
        with conn.cursor() as cursor:
            cursor.execute(fill_pending_sql(PENDING))
        conn.commit()
        result: dict[str, Any] = {"rows_small": args.small, "rows_large": args.rows}
        result["fill_small"] = grow(conn, 1, args.small, rebuild_indexes=False)
        result["small"] = measure(conn, args.small)
        result["bytes_small"] = bytes_per_event_pg(conn)
        result["fill_large"] = grow(conn, args.small + 1, args.rows, rebuild_indexes=True)
        result["large"] = measure(conn, args.rows)
        result["bytes_large"] = bytes_per_event_pg(conn)
        conn.close()
        result["purge"] = purge_rate(args.purge_seconds)
        return result
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run_sqlite(rows: int) -> dict:
    """Bytes per event in a fresh SQLite file (run in its own process: one database per setup)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        _setup_django(f"sqlite:///{path}")
        from _dbfill import sqlite_fill
        from django.db import connection

        sqlite_fill(connection, rows)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")
            cursor.execute("SELECT count(*) FROM pushworker_delivery")
            count = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            size = cursor.fetchone()[0]
        return {"rows": count, "total": pages * size / count}


def report(result: dict) -> str:
    from _common import table

    lines = []
    pg = result.get("postgres")
    if pg:
        small, large = pg["small"], pg["large"]
        rows = []
        for name in small:
            s, big = small[name], large[name]
            rows.append(
                [
                    name,
                    f"{s['ms']:.3f}",
                    f"{big['ms']:.3f}",
                    f"{big['ms'] / s['ms']:.2f}" if s["ms"] else "-",
                    ", ".join(big["seq_scan"]) or "no",
                    ", ".join(big["indexes"]) or "-",
                ]
            )
        lines.append(
            table(
                [
                    "query",
                    f"ms @ {pg['rows_small']:,}",
                    f"ms @ {pg['rows_large']:,}",
                    "ratio",
                    "seq scan @ large",
                    "indexes @ large",
                ],
                rows,
            )
        )
        for key in ("bytes_small", "bytes_large"):
            b = pg[key]
            lines.append(
                f"PostgreSQL bytes/event at {b['rows']:,} rows: {b['total']:.0f} "
                f"(heap {b['heap']:.0f}, indexes {b['indexes']:.0f})"
            )
        per_index = sorted(pg["bytes_large"]["per_index"].items(), key=lambda kv: -kv[1])
        lines.append("  per index: " + ", ".join(f"{n} {b:.0f}" for n, b in per_index))
        fill = pg["fill_large"]
        lines.append(
            f"fill to {pg['rows_large']:,}: {fill['fill_s']:.0f} s, rebuilding secondary "
            f"indexes concurrently {fill['index_build_s']:.0f} s"
        )
        p = pg["purge"]
        lines.append(
            f"purge: {p['deliveries']:,} deliveries + {p['attempts']:,} attempts in "
            f"{p['seconds']:.1f} s = {p['per_second']:,.0f} deliveries/s"
        )
    sqlite = result.get("sqlite")
    if sqlite:
        lines.append(f"SQLite bytes/event at {sqlite['rows']:,} rows: {sqlite['total']:.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="deliveries at the large size")
    parser.add_argument("--small", type=int, default=10_000, help="deliveries at the small size")
    parser.add_argument("--sqlite-rows", type=int, default=100_000)
    parser.add_argument("--purge-seconds", type=float, default=20.0)
    parser.add_argument(
        "--database-url", default=os.environ.get("PUSHWORKER_BENCH_DATABASE_URL") or SERVER
    )
    parser.add_argument("--engine", choices=("all", "postgres", "sqlite"), default="all")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.engine == "sqlite":  # the child process of an "all" run
        print(json.dumps(run_sqlite(args.sqlite_rows)))
        return 0
    result: dict[str, Any] = {}
    if args.engine in ("all", "postgres"):
        result["postgres"] = run_postgres(args)
    if args.engine == "all":
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--engine",
                "sqlite",
                "--sqlite-rows",
                str(args.sqlite_rows),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result["sqlite"] = json.loads(child.stdout.strip().splitlines()[-1])
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
