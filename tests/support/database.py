"""A fresh database for one test session: PostgreSQL when a server is given, else SQLite."""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import dj_database_url


def _reachable(url: str) -> bool:
    import psycopg

    params = dj_database_url.parse(url)
    try:
        psycopg.connect(
            host=params["HOST"] or "127.0.0.1",
            port=params["PORT"] or 5432,
            user=params["USER"] or "postgres",
            dbname=params["NAME"] or "postgres",
            connect_timeout=2,
        ).close()
    except psycopg.Error as error:
        warnings.warn(
            f"PostgreSQL at {params['HOST']}:{params['PORT']} unreachable ({error}); using SQLite",
            stacklevel=2,
        )
        return False
    return True


def create(tmp: Path) -> tuple[str, callable]:
    """Create a database; return its URL and a function that drops it.

    ``PUSHWORKER_TEST_DATABASE_URL`` names a PostgreSQL server and a database to connect to for
    administration (e.g. ``postgres://postgres@127.0.0.1:5432/test``); a new database is created
    next to it so runs never share state.
    """
    server = os.environ.get("PUSHWORKER_TEST_DATABASE_URL", "")
    if not server.startswith(("postgres://", "postgresql://")) or not _reachable(server):
        path = tmp / "pushworker-test.sqlite3"
        return f"sqlite:///{path}", lambda: None
    import psycopg

    params = dj_database_url.parse(server)
    name = f"pushworker_test_{uuid.uuid4().hex[:10]}"
    admin = {
        "host": params["HOST"] or "127.0.0.1",
        "port": params["PORT"] or 5432,
        "user": params["USER"] or "postgres",
        "password": params["PASSWORD"] or None,
        "dbname": params["NAME"] or "postgres",
    }
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    base = server.rsplit("/", 1)[0]
    return f"{base}/{name}", drop
