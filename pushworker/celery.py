"""The standalone Celery app, found by ``celery -A pushworker worker``."""

from __future__ import annotations

import os
import sys

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")

app = Celery("pushworker")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["pushworker"])


@signals.worker_init.connect
def _check_configuration(**_: object) -> None:
    """Refuse to start a worker that could not send: every missing key is named at once."""
    from pushworker import conf, ratelimit

    try:
        conf.get().require_credentials()
        ratelimit.settings()
    except (conf.ConfigurationError, ValueError) as error:
        # SystemExit, because Celery logs and swallows ordinary exceptions from signal handlers.
        raise SystemExit(f"{error}") from error


def worker_command(
    name: str, *, concurrency: int = 2, log_level: str = "INFO", beat_schedule: str | None = None
) -> list[str]:
    """``celery worker`` consuming every pushworker queue, with embedded beat given a schedule file.

    One definition for the demo, the tests and the benchmarks: a worker started without the
    maintenance queue would never relay the outbox or sweep stuck deliveries.
    """
    queues = ",".join(queue.name for queue in app.conf.task_queues)
    args = [sys.executable, "-m", "celery", "-A", "pushworker", "worker", "-l", log_level]
    args += ["-n", f"{name}@%h", "-c", str(concurrency), "-P", "prefork", "-Q", queues]
    args += ["--without-gossip", "--without-mingle"]
    if beat_schedule:
        args += ["-B", "-s", beat_schedule]
    return args
