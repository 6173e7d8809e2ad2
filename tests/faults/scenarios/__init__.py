"""Fault scenarios of issue #4, shared by tests/faults and bench/faults.py, one module per fault.

Each scenario injects one fault into the real pipeline (Redis, ``celery worker`` subprocesses, the
emulator over HTTP, the database), lets it recover, asserts the promise on the emulator's record
and the Delivery rows, and returns a :class:`Result` for the report. Every wait is bounded, and
every scenario bounds the number of requests the emulator may see.

Counting: an event is *lost* when it did not end in its expected status or Xiaomi never got it;
*duplicated* counts the extra sends the emulator accepted for one target (one target per event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.faults.scenarios.common import Result
from tests.faults.scenarios.engine import (
    blip_during_batched_retry,
    one_group_refused_one_accepted,
    urgent_during_backlog_while_killed,
    worker_killed_while_retries_come_due,
)
from tests.faults.scenarios.outage import xiaomi_outage
from tests.faults.scenarios.postgres import connections_cut_mid_claim
from tests.faults.scenarios.queue import garbage_on_the_queue, poison_message, same_event_twice
from tests.faults.scenarios.redis import (
    delay_on_commit_while_redis_down,
    enqueue_burst_while_redis_down,
    redis_aof_survives,
    redis_lost_queue,
    redis_restart_idle,
)
from tests.faults.scenarios.summaries import (
    summaries_beat_twice,
    summaries_redis_restarted,
    summaries_worker_killed,
)
from tests.faults.scenarios.worker import pool_child_killed, warm_shutdown, worker_killed
from tests.faults.scenarios.xiaomi import (
    xiaomi_errors_then_success,
    xiaomi_no_answer,
    xiaomi_refusals,
)

# -- the whole list, for the report --------------------------------------------------------------

SCENARIOS: list[tuple[str, Callable[..., Result], dict[str, Any]]] = [
    ("1", worker_killed, {}),
    ("2", pool_child_killed, {}),
    ("3", warm_shutdown, {}),
    ("4", redis_lost_queue, {}),
    ("5", redis_aof_survives, {}),
    ("6", redis_restart_idle, {}),
    ("7a", enqueue_burst_while_redis_down, {"mode": "refused"}),
    ("7b", enqueue_burst_while_redis_down, {"mode": "silent"}),
    ("7c", delay_on_commit_while_redis_down, {"mode": "refused"}),
    ("7d", delay_on_commit_while_redis_down, {"mode": "silent"}),
    ("8a", xiaomi_errors_then_success, {"kind": "http500"}),
    ("8b", xiaomi_errors_then_success, {"kind": "10002"}),
    ("8c", xiaomi_errors_then_success, {"kind": "10027"}),
    ("9a", xiaomi_no_answer, {"kind": "hang"}),
    ("9b", xiaomi_no_answer, {"kind": "reset"}),
    ("9c", xiaomi_no_answer, {"kind": "reset-after-accept"}),
    ("10", xiaomi_refusals, {}),
    ("11", same_event_twice, {}),
    ("12", poison_message, {}),
    ("13", garbage_on_the_queue, {}),
    ("14a", summaries_beat_twice, {}),
    ("14b", summaries_worker_killed, {}),
    ("14c", summaries_redis_restarted, {}),
    ("15a", blip_during_batched_retry, {}),
    ("15b", worker_killed_while_retries_come_due, {}),
    ("15c", urgent_during_backlog_while_killed, {}),
    ("15d", one_group_refused_one_accepted, {}),
    ("16a", xiaomi_outage, {"mode": "refused", "rate": 2}),
    ("16b", xiaomi_outage, {"mode": "refused", "rate": 10}),
    ("16c", xiaomi_outage, {"mode": "http503", "rate": 2}),
    ("16d", xiaomi_outage, {"mode": "http503", "rate": 10}),
    ("17", connections_cut_mid_claim, {}),
]
