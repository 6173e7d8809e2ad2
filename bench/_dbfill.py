"""Synthetic delivery history for bench/db_scale.py, shaped like production's, filled in SQL.

Per 1,000 deliveries: 870 sent, 80 failed (Xiaomi 20301, no valid targets), 45 suppressed (no
request), 5 dead; each one finished a second after it was created, spread evenly over 60 days, so
half of them are past the 30-day default retention. Every delivery but a suppressed one has one
attempt (two thirds Android, one third iOS). Texts have production's lengths: a goods name of a
dozen Chinese characters, Xiaomi message ids of 25 and trace ids of 29 characters.

All are goods visits on the generic row of migration 0007: ``recipient_id`` is the owner,
``subject_id`` the goods, and the JSON ``payload`` holds every other argument (visitor id and
name, goods id and name), as ``Event.payload()`` writes it.
"""

from __future__ import annotations

import time
from typing import Any

_STATUS = (
    "CASE WHEN i % 1000 < 870 THEN 'sent' WHEN i % 1000 < 950 THEN 'failed' "
    "WHEN i % 1000 < 995 THEN 'suppressed' ELSE 'dead' END"
)
_COLUMNS = (
    "event_id, kind, app_name, recipient_id, subject_id, payload, status, "
    "published_at, attempts, crashes, retries, claimed_at, possible_duplicate, redelivered, "
    "message_id, trace_id, error_code, error_category, error_reason, created_at, updated_at, "
    "finished_at, claimed_by"
)
_VALUES = """
    {event_id}, 'goods_visit', 'qqc', 'u' || (i % 200003), 'g' || (i % 500009),
    {json}('visitor_id', 'v' || (i % 100019), 'goods_id', 'g' || (i % 500009),
           'goods_name', '二手自行车 九成新 送头盔 ' || (i % 97),
           'visitor_name', '访客' || (i % 1000)),
    st,
    ts, CASE WHEN st = 'suppressed' THEN 0 ELSE 1 END, 0, 0, ts, false, false,
    CASE WHEN st = 'sent' THEN 'sdm' || substr({hash_m}, 1, 22) ELSE '' END,
    'Xdm' || substr({hash_t}, 1, 26),
    CASE WHEN st = 'failed' THEN 20301 ELSE NULL END,
    CASE WHEN st = 'failed' THEN 'invalid_target' WHEN st = 'dead' THEN 'transient'
         WHEN st = 'suppressed' THEN 'suppressed' ELSE '' END,
    CASE WHEN st = 'failed' THEN 'No valid targets!' WHEN st = 'dead' THEN 'server error 500'
         WHEN st = 'suppressed' THEN 'owner viewed own goods' ELSE '' END,
    ts, {ts_plus_1}, {ts_plus_1}, ''
"""


# The JSON constructor of each database: jsonb on PostgreSQL (Django's JSONField column type there),
# JSON text on SQLite (its JSONField is a text column).
PG_JSON, SQLITE_JSON = "jsonb_build_object", "json_object"


def _pg(sql: str) -> str:
    """Escape ``%`` for a psycopg query that also has parameters."""
    return sql.replace("%", "%%")


def fill_deliveries_sql() -> str:
    """PostgreSQL: deliveries ``%(low)s..%(high)s`` (event ids are md5('e' || i) as a uuid)."""
    values = _pg(_VALUES).format(
        event_id="md5('e' || i)::uuid",
        json=PG_JSON,
        hash_m="md5('m' || i)",
        hash_t="md5('t' || i)",
        ts_plus_1="ts + interval '1 second'",
    )
    return (
        f"INSERT INTO pushworker_delivery ({_COLUMNS}) SELECT {values} FROM ("
        f"SELECT i, {_pg(_STATUS)} AS st, "
        "now() - ((i * 7919) %% 5184000) * interval '1 second' AS ts "
        "FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS i) AS g"
    )


_ATTEMPT_COLUMNS = (
    "delivery_id, group_key, platform, environment, target_type, targets, status, http_status, "
    "message_id, trace_id, error_code, error_category, error_reason, started_at, finished_at"
)
_ATTEMPT_VALUES = """
    d.id, p.platform || '/production/alias:QQC_' || d.recipient_id, p.platform, 'production',
    'alias', 'QQC_' || d.recipient_id, CASE WHEN d.status = 'sent' THEN 'sent' ELSE 'failed' END,
    200, d.message_id, d.trace_id, d.error_code, d.error_category, d.error_reason,
    d.created_at, d.finished_at
"""
_PLATFORM = "CASE WHEN d.id % 3 = 0 THEN 'ios' ELSE 'android' END"

FILL_ATTEMPTS = (
    f"INSERT INTO pushworker_deliveryattempt ({_ATTEMPT_COLUMNS}) SELECT {_ATTEMPT_VALUES} "
    f"FROM pushworker_delivery d, LATERAL (SELECT {_pg(_PLATFORM)} AS platform) p "
    "WHERE d.id >= %(first_id)s AND d.status <> 'suppressed' AND d.finished_at IS NOT NULL"
)


# One unreadable broker message per 1,000 deliveries, received over the same 60 days.
FILL_DEAD_LETTERS = (
    "INSERT INTO pushworker_deadletter (received_at, reason, task_name, task_id, headers, body) "
    "SELECT now() - ((i * 7919) %% 5184000) * interval '1 second', 'not a task message', '', "
    "'', '{}', 'garbage' FROM generate_series(1, %(count)s) AS i"
)


def fill_pending_sql(count: int) -> str:
    """PostgreSQL: ``count`` unfinished deliveries, a quarter in each pending state."""
    return f"""
    INSERT INTO pushworker_delivery ({_COLUMNS})
    SELECT md5('p' || i)::uuid, 'goods_visit', 'qqc', 'u' || i, 'g' || i,
        {PG_JSON}('visitor_id', 'v' || i, 'goods_id', 'g' || i, 'goods_name', '碗',
                  'visitor_name', NULL), st,
        CASE WHEN i % 4 = 1 THEN NULL ELSE now() END, 0, 0, 0,
        CASE WHEN st = 'sending' THEN now() ELSE NULL END, false, false, '', '', NULL, '', '',
        now(), now(), NULL, ''
    FROM (SELECT i, CASE i % 4 WHEN 0 THEN 'queued' WHEN 1 THEN 'queued' WHEN 2 THEN 'sending'
          ELSE 'retrying' END AS st FROM generate_series(1, {int(count)}) AS i) AS g
    """


def sqlite_fill(connection: Any, rows: int) -> None:
    """SQLite: the same deliveries and attempts (recursive CTE instead of generate_series)."""
    values = _VALUES.format(
        event_id="lower(hex(randomblob(16)))",
        json=SQLITE_JSON,
        hash_m="lower(hex(randomblob(11)))",
        hash_t="lower(hex(randomblob(13)))",
        ts_plus_1="datetime(ts, '+1 second')",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
            f"WHERE i < {int(rows)}) "
            f"INSERT INTO pushworker_delivery ({_COLUMNS}) SELECT {values} FROM ("
            f"SELECT i, {_STATUS} AS st, "
            "datetime('now', '-' || ((i * 7919) % 5184000) || ' seconds') AS ts FROM s) AS g"
        )
        cursor.execute(
            f"INSERT INTO pushworker_deliveryattempt ({_ATTEMPT_COLUMNS}) "
            f"SELECT {_ATTEMPT_VALUES.replace('p.platform', _PLATFORM)} "
            "FROM pushworker_delivery d WHERE d.status <> 'suppressed'"
        )


def _secondary_indexes(conn: Any) -> list[tuple[str, str]]:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('pushworker_delivery', 'pushworker_deliveryattempt') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        return cursor.fetchall()


def grow(conn: Any, start: int, end: int, *, rebuild_indexes: bool) -> dict[str, float]:
    """Add deliveries ``start..end`` and their attempts; optionally with indexes rebuilt after."""
    timings = {}
    conn.rollback()
    conn.autocommit = True
    indexes = _secondary_indexes(conn) if rebuild_indexes else []
    with conn.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        step = 1_000_000
        for low in range(start, end + 1, step):
            high = min(end, low + step - 1)
            cursor.execute("SELECT coalesce(max(id), 0) FROM pushworker_delivery")
            first_id = cursor.fetchone()[0] + 1
            cursor.execute(fill_deliveries_sql(), {"low": low, "high": high})
            cursor.execute(FILL_ATTEMPTS, {"first_id": first_id})
            cursor.execute(FILL_DEAD_LETTERS, {"count": (high - low + 1) // 1000})
        timings["fill_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for _, definition in indexes:  # as migration 0008 builds them on a live table
            cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1))
        timings["index_build_s"] = time.perf_counter() - started
        cursor.execute("VACUUM ANALYZE pushworker_delivery")
        cursor.execute("VACUUM ANALYZE pushworker_deliveryattempt")
    conn.autocommit = False
    return timings
