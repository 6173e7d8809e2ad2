"""The broker's Redis as a plain redis-py client, home of the shared rate limit and the beat lock.

Every worker host reaches the broker's Redis already, so the limiter and the lock need no other
server. The broker is configured in one place, the Celery app (``broker_url`` and
``broker_transport_options``); this module reads only what it is handed from there. For a
``sentinel://`` broker the client asks the same sentinels for the same master as kombu does: the
``master_name``, the sentinels' password and socket timeouts (``sentinel_kwargs``), the master's
password and database from the first URL. redis-py's ``master_for`` asks the sentinels again each
time it connects, and a connection the failover broke is dropped, so after a failover the limiter
and the lock follow the new master; until the sentinels name it, their callers fail as documented.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

log = logging.getLogger("pushworker.ratelimit")

SENTINEL_PORT = 26379  # kombu's default for a sentinel:// URL without a port


def _quick(timeout: float) -> dict[str, Any]:
    # The master connection gives up quickly whatever the broker's timeouts: the limiter is asked
    # before every send, the backlog before every enqueue, and redis-py's own retries would stall
    # each one (they fail open).
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }


_followed: Any = None


def follow(app: Any) -> None:
    """Use ``app``'s broker for pushworker's own Redis state (``install`` calls it)."""
    global _followed
    _followed = app


def followed() -> Any:
    """The Celery app ``install`` wired pushworker into, or None before it ran."""
    return _followed


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the broker could not be reached (a socket, Redis or kombu connection
    error), rather than that something refused a call (Celery refusing a task's options)."""
    if isinstance(error, OSError | redis.ConnectionError | redis.TimeoutError):
        return True
    # kombu wraps a connection error on publish in its OperationalError; matched by name, as the
    # producer, which asks, stays free of kombu (tests/unit/test_layers.py).
    return any(
        cls.__name__ == "OperationalError" and cls.__module__.startswith("kombu.")
        for cls in type(error).__mro__
    )


def for_app(app: Any, timeout: float = 0.5) -> redis.Redis | None:
    """:func:`connect` to the broker of a Celery ``app`` (anything with its ``conf``)."""
    return connect(app.conf.broker_url, app.conf.broker_transport_options, timeout)


def connect(
    url: str | None, options: Mapping[str, Any] | None = None, timeout: float = 0.5
) -> redis.Redis | None:
    """A client of the broker's Redis whose connects and reads give up after ``timeout`` seconds;
    ``options`` are the broker's transport options. None (logged) for a broker that is not Redis,
    or a sentinel URL with no ``master_name``."""
    url, options = url or "", options or {}
    scheme = url.partition("://")[0].lower()
    if scheme == "sentinel":
        return _master(url, options, timeout)
    if scheme in ("redis+socket", "socket"):  # kombu's Unix socket URLs; the db is virtual_host
        parts = urlsplit("unix://" + url.partition("://")[2])
        query = [("db" if k == "virtual_host" else k, v) for k, v in parse_qsl(parts.query)]
        url = f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    elif scheme not in ("redis", "rediss", "unix"):
        log.warning("no shared rate limit or beat lock for this broker URL scheme")
        return None
    return redis.Redis.from_url(url, **_quick(timeout))


def _master(url: str, options: Mapping[str, Any], timeout: float) -> redis.Redis | None:
    master_name = options.get("master_name")
    if not master_name:
        log.warning("no shared rate limit or beat lock: a sentinel:// broker without master_name")
        return None
    urls = [urlsplit(part.strip()) for part in url.split(";") if part.strip()]
    first = urls[0]  # kombu takes the master's password and database from the first URL
    sentinel_kwargs = {
        "socket_connect_timeout": options.get("socket_connect_timeout", 2),
        "socket_timeout": options.get("socket_timeout", 5),
        **(options.get("sentinel_kwargs") or {}),
    }
    sentinel = Sentinel(
        [(u.hostname or "127.0.0.1", u.port or SENTINEL_PORT) for u in urls],
        min_other_sentinels=options.get("min_other_sentinels", 0),
        sentinel_kwargs=sentinel_kwargs,
    )
    return sentinel.master_for(
        master_name,
        db=int(first.path.strip("/") or 0),
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        **_quick(timeout),
    )
