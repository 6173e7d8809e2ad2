"""Fault scenarios of batch runs (issue #9): a bad message, a transient failure, a killed worker.

Every event here joins the backlog (``PUSHWORKER_BACKLOG_THRESHOLD=0`` on the web side), so a
``pushworker.drain`` run claims them together and sends them in ``multi_messages`` requests.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.faults.scenarios.common import (
    PREFIX,
    VT,
    Result,
    add_devices,
    open_requests,
    owners,
    rows,
    sends_per_target,
    tally,
    visit,
    wait_finished,
)
from tests.support.stack import Stack, wait_for

LATENCY_MS = 2000  # as in worker.py: a killed run's request is still accepted by the emulator


@contextmanager
def joining_the_backlog() -> Iterator[None]:
    """The web side leaves every event to a batch run, as it does under a backlog."""
    from pushworker import conf

    before = os.environ.get("PUSHWORKER_BACKLOG_THRESHOLD")
    os.environ["PUSHWORKER_BACKLOG_THRESHOLD"] = "0"
    conf.get.cache_clear()
    try:
        yield
    finally:
        if before is None:
            del os.environ["PUSHWORKER_BACKLOG_THRESHOLD"]
        else:
            os.environ["PUSHWORKER_BACKLOG_THRESHOLD"] = before
        conf.get.cache_clear()


def visits(who: list[str]) -> dict[str, str]:
    """Event id -> target, every event left to a batch run (no message of its own)."""
    with joining_the_backlog():
        targets = {visit(owner): PREFIX + owner for owner in who}
    found = rows(list(targets))
    assert all(d.published_at is None for d in found.values()), "events did not join the backlog"
    return targets


def requests(stack: Stack) -> int:
    return int(stack.emulator.stats()["requests"])


def batch_split_by_one_bad_message(stack: Stack, *, count: int = 12) -> Result:
    """One message of a batch is refused (65011): the batch is halved until it is alone."""
    who = owners("b1", count)
    add_devices(who)
    targets = visits(who)
    bad = next(e for e, t in targets.items() if t == PREFIX + who[5])
    stack.emulator.set_faults(fail_rate=1.0, fail_with="65011", target=targets[bad])
    stack.worker("w1")
    wait_finished(list(targets), timeout=30, what="after a batch was refused")
    result = tally(
        stack,
        "batch refused for one bad message",
        targets,
        recovery_s=None,
        expect={bad: "failed"},
        requests=requests(stack),
    )
    found, counts = rows(list(targets)), sends_per_target(stack)
    assert result.lost == 0, result
    assert found[bad].error_code == 65011 and counts[targets[bad]] == 0
    assert all(counts[t] == 1 for e, t in targets.items() if e != bad), counts
    assert not [e for e, d in found.items() if d.possible_duplicate]
    # The whole batch, then at most two halves a level down to the bad one (ceil(log2 12) = 4).
    assert requests(stack) <= 1 + 2 * 4, requests(stack)
    return result


def batch_transient_failure(stack: Stack, *, count: int = 6) -> Result:
    """The iOS request of a batch fails twice (503): only its events retry; Android's went out."""
    android, ios = owners("b2a", count), owners("b2i", count)
    add_devices(android)
    add_devices(ios, os_type="ios")
    targets = visits(android + ios)
    ios_events = {e for e, t in targets.items() if t.removeprefix(PREFIX) in ios}
    one_ios_target = next(targets[e] for e in ios_events)
    stack.emulator.set_faults(script=["http503", "http503"], target=one_ios_target)
    stack.worker("w1")
    wait_finished(list(targets), timeout=30, what="after a batch failed for a while")
    result = tally(
        stack, "batch answered 503 twice", targets, recovery_s=None, requests=requests(stack)
    )
    found, counts = rows(list(targets)), sends_per_target(stack)
    assert result.lost == 0 and result.sent == 2 * count, result
    assert all(counts[t] == 1 for t in targets.values()), counts  # a 503 reached nobody
    assert {found[e].retries for e in ios_events} == {1}
    assert {d.retries for e, d in found.items() if e not in ios_events} == {0}
    assert {d.attempts for e, d in found.items() if e not in ios_events} == {1}
    assert not [e for e, d in found.items() if d.possible_duplicate]
    return result


def worker_killed_mid_batch(stack: Stack, *, count: int = 8) -> Result:
    """SIGKILL the worker while a batch request is in flight; restart it.

    The dead run's message comes back after the visibility timeout; its batch is taken over (one
    crash each) and each event reruns alone, flagged: Xiaomi may have taken the cut request. Events
    enqueued meanwhile form a batch of their own, neither crashed nor flagged.
    """
    who = owners("b3", count)
    add_devices(who)
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    targets = visits(who)
    worker = stack.worker("w1")
    ids = list(targets)
    wait_for(lambda: open_requests(ids), 20, message="a batch request in flight")
    worker.kill_group()
    killed_at = time.monotonic()
    in_flight = open_requests(ids)
    later_owners = owners("b3later", 3)
    add_devices(later_owners)
    later = visits(later_owners)
    # Soft, as in worker.py: a run killed between recording its attempts and sending them leaves
    # a request the emulator never sees.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: requests(stack) >= 1, LATENCY_MS / 1000 + 5, message="the batch answer")
    stack.emulator.set_faults(None)
    stack.worker("w1-restarted")
    everything = targets | later
    done_at = wait_finished(list(everything), timeout=VT + 30, what="after the worker was killed")
    result = tally(
        stack,
        "SIGKILL worker mid-batch",
        everything,
        recovery_s=done_at - killed_at,
        in_flight=len(in_flight),
    )
    found, counts = rows(list(everything)), sends_per_target(stack)
    duplicated = {e for e, t in everything.items() if counts[t] > 1}
    flagged = {e for e, d in found.items() if d.possible_duplicate}
    assert len(in_flight) > 1, f"the kill did not catch a batch in flight: {in_flight}"
    assert result.lost == 0 and result.sent == len(everything), result
    assert duplicated <= in_flight and flagged == in_flight, (duplicated, flagged, in_flight)
    # One crash each, counted when the dead drain's rows are taken over. On a loaded machine a
    # reserved message can outwait the 13 s visibility timeout and come back as a redelivered
    # copy, which counts one more: never none, never past MAX_CRASHES (they were all sent).
    assert all(1 <= found[e].crashes < 3 for e in in_flight), {
        e: found[e].crashes for e in in_flight
    }
    assert all(found[e].crashes == 0 for e in set(everything) - in_flight)
    return result
