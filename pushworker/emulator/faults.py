"""Fault injection: latency, HTTP 5xx, Xiaomi errors, hangs and resets for the next send."""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

PRODUCTION = "production"
SANDBOX = "sandbox"
ENVIRONMENTS = (PRODUCTION, SANDBOX)

HANG = "hang"
RESET = "reset"
OK = "ok"  # a script entry meaning "answer this request normally"
QUOTA = "200001"
NO_CHANNEL = "no_channel"
_HTTP = re.compile(r"http(5\d\d)")
QUOTA_REASON = "exceed quota, quota: {quota}, have acked: {quota}"

# Xiaomi error faults: code -> reason. Answered as HTTP 200 with the code, like real errors.
XIAOMI_FAULTS: dict[str, tuple[int, str]] = {
    "10001": (10001, "System error, please retry later"),
    "10002": (10002, "System busy, please retry later"),
    "10003": (10003, "Remote service error"),
    "10027": (10027, "Request too frequently, please retry later"),
    # What Xiaomi answers a notification without title or description. pushworker never builds
    # one, so fault tests need this to see that such a refusal is recorded and not retried.
    "65011": (65011, "Title or Description is empty!"),
    # A multi_messages request is never refused with it: see channel_exceed_quota below.
    QUOTA: (200001, QUOTA_REASON),
}


def channel_exceed_quota(channel_ids: Iterable[str | None]) -> str:
    """What a multi_messages answer says instead of 200001: dropped messages per channel id.

    Xiaomi's multi endpoints answer code 0 and count in `data.channel_exceed_quota` the messages
    it dropped over quota, e.g. "no_channel:2 a:3" (2 without a channel_id, 3 with channel "a").
    Sources: mipush-api.md §4.1 (DOC-LIMIT); the exact text format is from third-party notes.
    """
    counts: dict[str, int] = {}
    for channel in channel_ids:
        counts[channel or NO_CHANNEL] = counts.get(channel or NO_CHANNEL, 0) + 1
    return " ".join(f"{channel}:{count}" for channel, count in counts.items())


def is_fault_kind(kind: str) -> bool:
    """True for http5xx, a Xiaomi error fault, hang or reset."""
    return kind in XIAOMI_FAULTS or kind in (HANG, RESET) or _HTTP.fullmatch(kind) is not None


def http_status(kind: str) -> int | None:
    """The HTTP status of an `http5xx` fault, else None."""
    match = _HTTP.fullmatch(kind)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Faults:
    """Fault settings; the JSON form (`to_json`/`from_json`) is what /_emulator/faults speaks.

    latency_ms: delay before answering every in-scope API request. A send is accepted and
        recorded first, so a client that gives up meanwhile has still delivered.
    fail_rate / fail_with: probability that a send gets the `fail_with` fault.
    script: faults consumed one per in-scope send, before fail_rate applies; "ok" passes one.
    environment / target: limit every fault above to one environment or to sends naming a target.
    A multi_messages request is one send: a fault fails (or delays) all its items together, and
    it is in a `target` scope when any item names that target. "200001" on it drops every item
    and answers code 0 with `data.channel_exceed_quota`, as Xiaomi does, instead of the error.
    """

    latency_ms: float = 0.0
    fail_rate: float = 0.0
    fail_with: str = "http500"
    script: tuple[str, ...] = field(default=())
    environment: str | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "script", tuple(self.script))
        if not 0 <= self.latency_ms <= 600_000:
            raise ValueError(f"latency_ms must be within 0..600000, got {self.latency_ms!r}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within 0..1, got {self.fail_rate!r}")
        if not is_fault_kind(self.fail_with):
            raise ValueError(f"fail_with: unknown fault {self.fail_with!r}; known: {KNOWN}")
        for kind in self.script:
            if kind != OK and not is_fault_kind(kind):
                raise ValueError(f"script: unknown fault {kind!r}; known: {KNOWN} or ok")
        if self.environment not in (None, *ENVIRONMENTS):
            raise ValueError(f"environment must be one of {ENVIRONMENTS} or null")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["script"] = list(self.script)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        """Build from a JSON object; unknown keys and wrong types raise ValueError naming them."""
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        types = {"latency_ms": (int, float), "fail_rate": (int, float), "fail_with": (str,)}
        for key, allowed in types.items():
            value = data.get(key)
            if key in data and (isinstance(value, bool) or not isinstance(value, allowed)):
                raise ValueError(f"{key} has the wrong type: {value!r}")
        script = data.get("script", [])
        if not isinstance(script, list) or not all(isinstance(k, str) for k in script):
            raise ValueError("script must be a list of strings")
        for key in ("environment", "target"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"{key} must be a string or null")
        return cls(**{**data, "script": tuple(script)})


KNOWN = "http500 (any http5xx), " + ", ".join(XIAOMI_FAULTS) + ", hang, reset"


class FaultState:
    """The live fault settings, shared by the server thread and callers; every method locks."""

    def __init__(self, faults: Faults | None = None, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        self._faults = Faults()
        self._script: deque[str] = deque()
        self.set(faults or Faults())

    def set(self, faults: Faults) -> None:
        """Replace every setting; the script restarts from its first entry."""
        with self._lock:
            self._faults = faults
            self._script = deque(faults.script)

    def get(self) -> Faults:
        """The current settings; `script` holds only the entries not yet consumed."""
        with self._lock:
            return Faults(**{**asdict(self._faults), "script": tuple(self._script)})

    def latency(self, environment: str, targets: Iterable[str] = ()) -> float:
        """Seconds to wait before answering an API request (0 when out of scope)."""
        with self._lock:
            faults = self._faults
            return faults.latency_ms / 1000 if _in_scope(faults, environment, targets) else 0.0

    def draw(self, environment: str, targets: Iterable[str]) -> str | None:
        """The fault for one send request, consuming a script entry; None means answer normally."""
        with self._lock:
            faults = self._faults
            if not _in_scope(faults, environment, targets):
                return None
            if self._script:
                kind = self._script.popleft()
                return None if kind == OK else kind
            if faults.fail_rate and self._rng.random() < faults.fail_rate:
                return faults.fail_with
            return None


def _in_scope(faults: Faults, environment: str, targets: Iterable[str]) -> bool:
    if faults.environment is not None and faults.environment != environment:
        return False
    return faults.target is None or faults.target in targets
