"""Nickname resolvers that fault tests load into the worker (``PUSHWORKER_NICKNAME_RESOLVER``).

The resolver runs in the pool child right before the request to Xiaomi, for events given
without a ``visitor_name``: a hook to see which process holds an event, or to kill it.
"""

from __future__ import annotations

import os
import signal
import time

PID_FILE = "PUSHWORKER_FAULTS_PID_FILE"
POISON_PREFIX = "poison-"


def record_pid(visitor_id: str) -> None:
    """Append ``<visitor_id> <pid> <time>`` to the file named by ``PUSHWORKER_FAULTS_PID_FILE``."""
    path = os.environ.get(PID_FILE)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"{visitor_id} {os.getpid()} {time.time():.3f}\n")
    return None


def kill_for_visitor(visitor_id: str) -> None:
    """SIGKILL this process for visitors named ``poison-…``: a message that kills every child."""
    record_pid(visitor_id)
    if visitor_id.startswith(POISON_PREFIX):
        os.kill(os.getpid(), signal.SIGKILL)
    return None


def pids(path: str) -> dict[str, list[int]]:
    """visitor id -> the pids that resolved it, in order (read on the test side)."""
    found: dict[str, list[int]] = {}
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                visitor, pid, _ = line.split()
                found.setdefault(visitor, []).append(int(pid))
    except FileNotFoundError:
        pass
    return found


CUT_PREFIX = "cut-"


def cut_database_for_visitor(visitor_id: str) -> None:
    """For visitors named ``cut-…``, once each: PostgreSQL terminates this process's connection
    (from a second connection, as a restart or an operator's ``pg_terminate_backend`` would), so
    the run's next statement finds it dead. The visitor is recorded first: a later run of the
    same event goes through."""
    if not visitor_id.startswith(CUT_PREFIX) or visitor_id in _recorded():
        return None
    record_pid(visitor_id)
    import psycopg
    from django.db import connection

    backend = connection.connection.info.backend_pid
    params = connection.settings_dict
    with psycopg.connect(
        dbname=params["NAME"],
        user=params["USER"],
        password=params["PASSWORD"] or None,
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    return None


def _recorded() -> set[str]:
    path = os.environ.get(PID_FILE)
    return set(pids(path)) if path else set()
