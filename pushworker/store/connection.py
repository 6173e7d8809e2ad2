"""The database connection of a run the database failed: recognised, and closed to be replaced."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connections, router

from pushworker.store.models import Delivery


def lost(error: BaseException) -> bool:
    """True when ``error`` is the database failing, not a statement being wrong: a connection it
    dropped (a restart, a failover, ``pg_terminate_backend``), a lock or serialisation failure.

    The connection is then closed, so the next statement opens a new one: Django checks a
    connection's health only when a task starts, and a dead one fails every later statement of
    the task, the hand-back of its rows included. The driver's own errors count too: a ``COPY``
    (``store.attempts``) runs on the driver's cursor, outside Django's error translation.
    """
    connection = connections[router.db_for_write(Delivery)]
    driver = connection.Database
    failures = (OperationalError, InterfaceError, driver.OperationalError, driver.InterfaceError)
    if not isinstance(error, failures):
        return False
    connection.close()
    return True
