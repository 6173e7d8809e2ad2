"""What the emulator saw: accepted messages, a trace index, per-request log and counters."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_RECORDS = 100_000
DEFAULT_TTL_MS = 1_209_600_000  # two weeks, Xiaomi's documented default


@dataclass(frozen=True)
class TraceEntry:
    """What /v1/trace/message/status needs to know about one accepted message id."""

    environment: str
    package: str
    platform: str
    created_ms: int
    time_to_live_ms: int
    targets: int


class Recorder:
    """Thread-safe store written by the server thread and read by tests, the CLI and admin routes.

    Messages and the request log are bounded (oldest dropped first) so a long benchmark cannot
    exhaust memory; counters and the trace index cover every request since the last reset.
    """

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self._lock = threading.Lock()
        self._max = max_records
        self._messages: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._requests: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._traces: dict[str, TraceEntry] = {}
        self._outcomes: Counter[str] = Counter()
        self._codes: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._environments: Counter[str] = Counter()
        self._accepted = 0

    def add_messages(self, records: list[dict[str, Any]], trace: TraceEntry) -> None:
        """Store the records of one accepted request (one per multi_messages item)."""
        with self._lock:
            self._messages.extend(records)
            self._accepted += len(records)
            self._traces[records[0]["message_id"]] = trace
            if len(self._traces) > self._max:
                del self._traces[next(iter(self._traces))]  # dicts keep insertion order

    def trace(self, message_id: str) -> TraceEntry | None:
        with self._lock:
            return self._traces.get(message_id)

    def count_request(
        self,
        environment: str,
        method: str,
        path: str,
        outcome: str,
        code: int | None = None,
        fault: str | None = None,
        http_status: int | None = None,
    ) -> None:
        """Log one API request. outcome is "ok", "error" (a Xiaomi code) or "fault" (injected)."""
        entry = {
            "environment": environment,
            "method": method,
            "path": path,
            "outcome": outcome,
            "code": code,
            "fault": fault,
            "http_status": http_status,
            "received_at": time.time(),
        }
        with self._lock:
            self._requests.append(entry)
            self._outcomes[outcome] += 1
            self._environments[environment] += 1
            if code is not None:
                self._codes[str(code)] += 1
            if fault is not None:
                self._faults[fault] += 1

    def messages(self) -> list[dict[str, Any]]:
        """Copies of the accepted message records, oldest first."""
        with self._lock:
            return [
                dict(
                    m,
                    targets=list(m["targets"]),
                    dropped_targets=list(m["dropped_targets"]),
                    fields=dict(m["fields"]),
                )
                for m in self._messages
            ]

    def requests(self) -> list[dict[str, Any]]:
        """Copies of the request log entries, oldest first (faulted attempts included)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset; `requests` counts every API request, faults included."""
        with self._lock:
            return {
                "requests": sum(self._outcomes.values()),
                "by_outcome": dict(self._outcomes),
                "by_code": dict(self._codes),
                "by_fault": dict(self._faults),
                "by_environment": dict(self._environments),
                "messages": self._accepted,
            }

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
            self._requests.clear()
            self._traces.clear()
            for counter in (self._outcomes, self._codes, self._faults, self._environments):
                counter.clear()
            self._accepted = 0
