"""Nickname resolvers that fault tests load into the worker (``PUSHWORKER_NICKNAME_RESOLVER``).

The resolver runs in the pool child right before the request to Xiaomi, for events given
without a ``visitor_name``: a hook to see which process holds an event, or to kill it.
"""

from __future__ import annotations

import os
import signal
import time

PID_FILE = "PUSHWORKER_FAULTS_PID_FILE"
POISON_PREFIX = "poison-"


def record_pid(visitor_id: str) -> None:
    """Append ``<visitor_id> <pid> <time>`` to the file named by ``PUSHWORKER_FAULTS_PID_FILE``."""
    path = os.environ.get(PID_FILE)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(f"{visitor_id} {os.getpid()} {time.time():.3f}\n")
    return None


def kill_for_visitor(visitor_id: str) -> None:
    """SIGKILL this process for visitors named ``poison-…``: a message that kills every child."""
    record_pid(visitor_id)
    if visitor_id.startswith(POISON_PREFIX):
        os.kill(os.getpid(), signal.SIGKILL)
    return None


def pids(path: str) -> dict[str, list[int]]:
    """visitor id -> the pids that resolved it, in order (read on the test side)."""
    found: dict[str, list[int]] = {}
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                visitor, pid, _ = line.split()
                found.setdefault(visitor, []).append(int(pid))
    except FileNotFoundError:
        pass
    return found
