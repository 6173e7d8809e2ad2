"""Workers keep their database connections between tasks, and replace one the server dropped."""

from __future__ import annotations

import pytest

from tests.integration.test_pipeline import add_device, finished, visit

pytestmark = pytest.mark.slow


def backends(stack) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


@pytest.fixture
def postgres_stack(stack):
    from django.db import connection

    if connection.vendor != "postgresql":  # before the worker starts: a skip costs nothing
        pytest.skip("needs PostgreSQL (PUSHWORKER_TEST_DATABASE_URL)")
    return stack


def test_a_worker_survives_the_database_dropping_its_connections(postgres_stack, warm_stack):
    from django.db import connection

    add_device("900", "android")
    assert finished(visit("900")).status == "sent"
    before = set(backends(warm_stack))
    assert before, "the worker keeps its connections open between tasks"

    with connection.cursor() as cursor:  # what a database restart does to every client
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [list(before)]
        )

    for n in range(3):
        assert finished(visit("900", goods_id=f"g-{n}")).status == "sent"
