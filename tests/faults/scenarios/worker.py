"""Fault scenarios 1–3: the worker dies or is stopped mid-send."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from tests.faults import hooks
from tests.faults.scenarios.common import (
    PREFIX,
    VT,
    Result,
    add_devices,
    check_once_each,
    check_request_bound,
    kill_hook_env,
    open_requests,
    owners,
    process_gone,
    requests_answered,
    rows,
    sends_per_target,
    tally,
    visit,
    wait_finished,
)
from tests.support.stack import Stack, wait_for

# -- 1, 2, 3: worker crashes and shutdowns ------------------------------------------------------

# The emulator's latency is applied before it records a send, and it records the send even when
# the client has gone meanwhile (measured: a client that timed out at 0.5 s against 2 s latency
# still left a recorded message). So a worker killed during the latency leaves a send that
# Xiaomi accepted after the crash: the crash-between-accepting-and-recording case.
LATENCY_MS = 2000


def worker_killed(stack: Stack, *, count: int = 6) -> Result:
    """SIGKILL the whole worker (main, pool, beat) while two sends are in flight, then restart it.

    The killed runs' messages come back from Redis after the visibility timeout, flagged
    ``redelivered``; their open attempts make the repeats ``possible_duplicate``.
    """
    who = owners("k1", count)
    add_devices(who)
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    worker = stack.worker("w1")
    targets = {visit(owner): PREFIX + owner for owner in who}
    ids = list(targets)
    wait_for(lambda: len(open_requests(ids)) >= 2, 15, message="two sends in flight")
    worker.kill_group()
    killed_at = time.monotonic()
    in_flight = open_requests(ids)
    # The emulator finishes (and records) the cut requests. Soft: a run killed between recording
    # an attempt and sending it leaves an attempt the emulator never sees.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: requests_answered(stack), LATENCY_MS / 1000 + 5, message="answers")
    accepted_after_kill = {e for e in in_flight if sends_per_target(stack)[targets[e]] > 0}
    stack.emulator.set_faults(None)
    stack.worker("w1-restarted")
    done_at = wait_finished(ids, timeout=VT + 30, what="after the worker was killed")

    result = tally(
        stack,
        "SIGKILL whole worker mid-send",
        targets,
        recovery_s=done_at - killed_at,
        in_flight=len(in_flight),
        accepted_after_kill=len(accepted_after_kill),
    )
    found = rows(ids)
    counts = sends_per_target(stack)
    duplicated = {e for e, t in targets.items() if counts[t] > 1}
    flagged = {e for e, d in found.items() if d.possible_duplicate}
    assert in_flight, "the kill did not catch a send in flight"
    assert result.lost == 0 and result.sent == count, f"not all sent: {result}"
    assert result.duplicated <= len(in_flight), f"more duplicates than sends in flight: {result}"
    assert duplicated <= flagged, f"duplicates not flagged: {duplicated - flagged}"
    # A cut request may have reached Xiaomi whatever the emulator did with it: flag every repeat,
    # and nothing else.
    assert flagged == in_flight, (flagged, in_flight)
    assert all(found[e].crashes == 1 for e in in_flight), "the killed run was not counted a crash"
    assert all(found[e].crashes == 0 for e in set(ids) - in_flight)
    check_request_bound(stack, count + len(in_flight))
    return result


def pool_child_killed(stack: Stack, *, count: int = 4) -> Result:
    """SIGKILL the one pool child that is sending; the main process and beat live on.

    The child is found by the event it resolved the nickname for (``tests.faults.hooks``): beat
    is a child of the main process too, so "a child" is not enough. With
    ``task_reject_on_worker_lost`` its message is requeued at once, not after the visibility
    timeout.
    """
    who = owners("k2", count)
    add_devices(who)
    pid_env, pid_file = kill_hook_env(stack, "child")
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    worker = stack.worker("w1", env=pid_env)
    # No visitor_name: the resolver runs, and names the pid that holds each event.
    targets = {visit(owner, visitor_name=None): PREFIX + owner for owner in who}
    ids = list(targets)
    by_visitor = {f"v-{owner}": e for owner, e in zip(who, ids, strict=True)}

    def sending() -> tuple[str, int] | None:
        for visitor, pids in hooks.pids(pid_file).items():
            event_id = by_visitor[visitor]
            if open_requests([event_id]):
                return event_id, pids[-1]
        return None

    victim, pid = wait_for(sending, 15, message="a send in flight")
    children = worker.pool_children()
    assert pid in children, f"pid {pid} is not a child of the worker {children}"
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: process_gone(pid), 10, message=f"pool child {pid} to die")
    stack.emulator.set_faults(None)
    done_at = wait_finished(ids, timeout=VT + 20, what="after a pool child was killed")
    main_alive = worker.process is not None and worker.process.poll() is None

    result = tally(stack, "SIGKILL one pool child", targets, recovery_s=done_at - killed_at)
    found = rows(ids)
    counts = sends_per_target(stack)
    assert main_alive, "the worker's main process died with its child"
    assert result.lost == 0 and result.sent == count, f"not all sent: {result}"
    assert result.duplicated <= 1, f"one send was in flight, {result.duplicated} duplicates"
    assert {e for e, t in targets.items() if counts[t] > 1} <= {victim}
    assert found[victim].possible_duplicate, "the killed child's send was repeated unflagged"
    assert found[victim].crashes == 1, found[victim].crashes
    assert [e for e, d in found.items() if d.possible_duplicate] == [victim]
    # Requeued by task_reject_on_worker_lost, not recovered by the visibility timeout.
    assert result.recovery_s < VT, f"recovery took {result.recovery_s:.1f} s"
    check_request_bound(stack, count + 1)
    return result


def warm_shutdown(stack: Stack, *, count: int = 6) -> Result:
    """SIGTERM the worker while two sends are in flight: they finish, the rest wait in Redis."""
    who = owners("k3", count)
    add_devices(who)
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    worker = stack.worker("w1")
    targets = {visit(owner): PREFIX + owner for owner in who}
    ids = list(targets)
    wait_for(lambda: len(open_requests(ids)) >= 2, 15, message="two sends in flight")
    in_flight = {e for e, d in rows(ids).items() if d.status == "sending"}
    stopped_at = time.monotonic()
    worker.terminate(timeout=30)
    shutdown_s = time.monotonic() - stopped_at
    finished_by_shutdown = {e for e, d in rows(ids).items() if d.status == "sent"}
    stack.emulator.set_faults(None)
    stack.worker("w1-restarted")
    done_at = wait_finished(ids, timeout=30, what="after a warm shutdown")

    result = tally(
        stack,
        "SIGTERM worker (warm shutdown)",
        targets,
        recovery_s=done_at - stopped_at,
        shutdown_s=round(shutdown_s, 1),
    )
    assert in_flight <= finished_by_shutdown, "a warm shutdown must let running sends finish"
    check_once_each(stack, result, targets)
    assert all(d.crashes == 0 for d in rows(ids).values())
    check_request_bound(stack, count)
    return result
