"""The image's broker and database URLs, built from their parts when any Python process starts.

The image's ``pushworker-container.pth`` imports this module, so the service's own process, health
checks and ``docker compose exec ... pushworker device list`` all see the same URLs. Passwords enter
a URL only here, percent-encoded, so any character is safe in them: raw, a ``#``, ``/``, ``?`` or
``@`` would cut the URL and put part of the password where errors print it. A URL given whole
(``PUSHWORKER_BROKER_URL``, ``PUSHWORKER_DATABASE_URL``) is used as it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from urllib.parse import quote


def _q(value: str) -> str:
    return quote(value, safe="")


def broker_url(env: Mapping[str, str]) -> str | None:
    """``redis://:PASSWORD@REDIS_HOST:REDIS_PORT/REDIS_DB`` when ``REDIS_PASSWORD`` is set."""
    if "REDIS_PASSWORD" not in env:
        return None
    host, port = env.get("REDIS_HOST", "redis"), env.get("REDIS_PORT", "6379")
    return f"redis://:{_q(env['REDIS_PASSWORD'])}@{host}:{port}/{env.get('REDIS_DB', '0')}"


def database_url(env: Mapping[str, str]) -> str | None:
    """``postgres://POSTGRES_USER:PASSWORD@POSTGRES_HOST:POSTGRES_PORT/POSTGRES_DB`` when set."""
    if "POSTGRES_PASSWORD" not in env:
        return None
    user, password = env.get("POSTGRES_USER", "pushworker"), env["POSTGRES_PASSWORD"]
    host, port = env.get("POSTGRES_HOST", "postgres"), env.get("POSTGRES_PORT", "5432")
    database = env.get("POSTGRES_DB", user)
    return f"postgres://{_q(user)}:{_q(password)}@{host}:{port}/{_q(database)}"


def configure(env: MutableMapping[str, str]) -> None:
    """Set the URLs the application reads; the bare passwords leave the environment."""
    for key, url in (
        ("PUSHWORKER_BROKER_URL", broker_url(env)),
        ("PUSHWORKER_DATABASE_URL", database_url(env)),
    ):
        if url and not env.get(key):
            env[key] = url
    # One place holds each password (the URL, which Celery and Django mask), not two.
    for key in ("REDIS_PASSWORD", "POSTGRES_PASSWORD"):
        env.pop(key, None)


configure(os.environ)
