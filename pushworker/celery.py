"""The standalone Celery app, found by ``celery -A pushworker worker``.

A host project does not import this module (creating it would make it Celery's current app):
it calls ``pushworker.broker.install.install`` on its own app instead.
"""

from __future__ import annotations

import os
import sys

from pushworker.broker import celerylogs, queues
from pushworker.broker import install as integration
from pushworker.broker.beatlock import LockedScheduler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")

# Celery's own lines (tasks received and done, beat, shutdown) in pushworker's line format.
app = celerylogs.Celery("pushworker")
celerylogs.use_pushworker_format()
app.config_from_object("pushworker.broker.celeryconfig")
integration.install(app)
app.autodiscover_tasks(["pushworker"])


# Beat's file scheduler: creates its schedule folder, so beat starts anywhere, and sends only while
# it holds the beat lock, so every host may run beat (pushworker/broker/beatlock.py).
Scheduler = LockedScheduler


def worker_command(
    name: str, *, concurrency: int = 2, log_level: str = "INFO", beat_schedule: str | None = None
) -> list[str]:
    """``celery worker`` consuming every pushworker queue, with embedded beat given a schedule file.

    One definition for the demo, the tests and the benchmarks: a worker started without the
    maintenance queue would never relay the outbox or sweep stuck deliveries.
    """
    consumed = ",".join(queues.CONSUMED)
    args = [sys.executable, "-m", "celery", "-A", "pushworker", "worker", "-l", log_level]
    args += ["-n", f"{name}@%h", "-c", str(concurrency), "-P", "prefork", "-Q", consumed]
    args += ["--without-gossip", "--without-mingle"]
    if beat_schedule:
        args += ["-B", "-s", beat_schedule]
    return args
