"""The daily summaries' scheduler: make the summaries that are due, a chunk at a time, in a budget.

Beat runs it every ``SUMMARY_INTERVAL`` (through the beat lock: one beat of all hosts sends it).
Each run makes the summaries due by now (``store.summaries.make_due``: one transaction per chunk
of recipients), for at most its budget; what is left stays due for the next run, which the task
asks for at once. A summary is a backlog row (no message of its own): drains claim them with
everything else due and send them in ``multi_messages`` groups, so a popular hour costs about one
request per ``BATCH_SIZE`` summaries and group (platform, host, target type). Recipients' due
times are spread over their hour in slots of the interval (``events.daily_summary.due``), so each
run makes about one slot's share of the hour.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from pushworker import conf
from pushworker.store import summaries

log = logging.getLogger("pushworker.summaries")
CHUNK = 1000  # recipients per transaction


@dataclass
class Report:
    """What one run did; ``more``: recipients still due when its budget ran out."""

    recipients: int = 0
    created: int = 0
    more: bool = False


def run(
    settings: conf.Settings,
    budget: float,
    now: datetime | None = None,
    made: Callable[[int], object] | None = None,
) -> Report:
    """Make the summaries due by ``now`` (default: the run's start) within ``budget`` seconds.

    ``made(n)`` is called after each chunk that created ``n`` summaries, once they are committed
    (the task asks a drain to start sending them while the next chunk is made)."""
    now = now or timezone.now()
    report, deadline = Report(), time.monotonic() + budget
    while True:
        chunk = summaries.make_due(settings, now, CHUNK)
        report.recipients += chunk.recipients
        report.created += chunk.created
        if chunk.created and made is not None:
            made(chunk.created)
        if chunk.recipients < CHUNK:
            break
        if time.monotonic() >= deadline:
            report.more = True
            break
    if report.recipients:
        log.info(
            "daily summaries made",
            extra={"recipients": report.recipients, "summaries": report.created},
        )
    return report
