"""Container health checks, one per kind of service, exit 0 when healthy.

``healthcheck.py http URL``: the URL answers 200 within 5 s (web, Flower, emulator).
``healthcheck.py worker``: this container's Celery worker answers a ping through the broker, so a
worker that lost Redis or hangs in its consumer is unhealthy, not only one whose process died.
``healthcheck.py beat [SCHEDULE]``: beat's schedule file was written recently; beat rewrites it at
least every 3 minutes while its loop runs.
"""

from __future__ import annotations

import glob
import os
import socket
import sys
import time
import urllib.request

BEAT_SCHEDULE = "/var/lib/pushworker/celerybeat-schedule"
BEAT_STALE_AFTER = 600  # s: celery beat syncs its schedule file every 180 s


def http(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a fixed local URL
        return response.status == 200


def worker() -> bool:
    from celery import Celery

    app = Celery(broker=os.environ["PUSHWORKER_BROKER_URL"])
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_transport_options = {"socket_connect_timeout": 3, "socket_timeout": 5}
    replies = app.control.ping(destination=[f"worker@{socket.gethostname()}"], timeout=3)
    return bool(replies)


def beat(schedule: str = BEAT_SCHEDULE) -> bool:
    written = [os.stat(path).st_mtime for path in glob.glob(glob.escape(schedule) + "*")]
    return bool(written) and time.time() - max(written) < BEAT_STALE_AFTER


def main(argv: list[str]) -> int:
    checks = {"http": http, "worker": worker, "beat": beat}
    if not argv or argv[0] not in checks:
        print(f"usage: healthcheck.py {{{'|'.join(checks)}}} [ARG]", file=sys.stderr)
        return 2
    try:
        healthy = checks[argv[0]](*argv[1:])
    except Exception as error:  # any failure to check is "unhealthy", said in one line
        print(f"unhealthy: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("healthy" if healthy else "unhealthy")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
