"""The standalone Celery app, found by ``celery -A pushworker worker``.

A host project does not import this module (creating it would make it Celery's current app):
it calls ``pushworker.integration.install`` on its own app instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from celery import Celery
from celery.beat import PersistentScheduler

from pushworker import integration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")

app = Celery("pushworker")
app.config_from_object("pushworker.celeryconfig")
integration.install(app)
app.autodiscover_tasks(["pushworker"])


class Scheduler(PersistentScheduler):
    """Beat's file scheduler, creating the schedule file's folder first, so beat starts anywhere."""

    def setup_schedule(self) -> None:
        Path(self.schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        super().setup_schedule()


def worker_command(
    name: str, *, concurrency: int = 2, log_level: str = "INFO", beat_schedule: str | None = None
) -> list[str]:
    """``celery worker`` consuming every pushworker queue, with embedded beat given a schedule file.

    One definition for the demo, the tests and the benchmarks: a worker started without the
    maintenance queue would never relay the outbox or sweep stuck deliveries.
    """
    queues = ",".join((integration.QUEUE, integration.MAINTENANCE_QUEUE))
    args = [sys.executable, "-m", "celery", "-A", "pushworker", "worker", "-l", log_level]
    args += ["-n", f"{name}@%h", "-c", str(concurrency), "-P", "prefork", "-Q", queues]
    args += ["--without-gossip", "--without-mingle"]
    if beat_schedule:
        args += ["-B", "-s", beat_schedule]
    return args
