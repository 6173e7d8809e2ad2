"""Fault scenario 17: PostgreSQL cuts the workers' connections while drains claim due rows.

A restart of PostgreSQL, a failover or an operator's ``pg_terminate_backend`` ends every worker's
connection, whatever statement it was in: a drain's claim, its attempt rows, its outcomes. The
promise: nothing is lost, a repeat Xiaomi may have got twice is flagged, and no row stays claimed
by a run that can no longer end it (the drain hands its batch back as due rows, on a new
connection, without counting a crash: the cut was the database's, not an event's).
"""

from __future__ import annotations

import time
import unittest
import uuid

from tests.faults import hooks
from tests.faults.scenarios.batches import joining_the_backlog, requests
from tests.faults.scenarios.common import (
    PREFIX,
    Result,
    add_devices,
    owners,
    rows,
    sends_per_target,
    tally,
    visit,
    wait_finished,
)
from tests.support.stack import Stack, wait_for

APPLICATION = "pushworker-faults-worker"  # the workers' connections, by PGAPPNAME
LATENCY_MS = 500  # each request takes a while: cuts land in a drain's sends as well as its claims


def require_postgres() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        raise unittest.SkipTest("needs PostgreSQL (PUSHWORKER_TEST_DATABASE_URL)")


def due_rows(who: list[str], visitors: dict[str, str] | None = None) -> dict[str, str]:
    """Event id -> target: one visit per owner kept as a row no message carries, every other one a
    retry whose time has come (as a transient failure leaves it), the rest a fresh backlog.
    ``visitors``: owner -> visitor id, for visits that name no visitor (the resolver runs)."""
    from django.utils import timezone

    from pushworker.store.models import Delivery, DeliveryStatus

    named = {
        owner: {"visitor_id": v, "visitor_name": None} for owner, v in (visitors or {}).items()
    }
    with joining_the_backlog():
        targets = {visit(owner, **named.get(owner, {})): PREFIX + owner for owner in who}
    retried = list(targets)[::2]
    Delivery.objects.filter(event_id__in=retried).update(
        status=DeliveryStatus.RETRYING,
        retries=1,
        attempts=1,
        error_category="transient",
        next_attempt_at=timezone.now(),
    )
    return targets


def terminate_workers_backends() -> int:
    """``pg_terminate_backend`` of every worker connection; how many it ended."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [APPLICATION],
        )
        return int(cursor.fetchone()[0])


def check_promise(stack: Stack, result: Result, targets: dict[str, str]) -> None:
    """Lost 0, nothing dead or failed, and every target Xiaomi got twice is flagged."""
    found, counts = rows(list(targets)), sends_per_target(stack)
    assert result.lost == 0 and result.sent == result.events, result
    duplicated = {e for e, t in targets.items() if counts[t] > 1}
    flagged = {e for e, d in found.items() if d.possible_duplicate}
    assert duplicated <= flagged, f"unflagged duplicates: {sorted(duplicated - flagged)}"


def drain_cut_once(stack: Stack, *, count: int = 8) -> Result:
    """A drain's connection is terminated while it plans its batch: the batch goes back due at
    once, and the next drain sends it, no crash counted."""
    require_postgres()
    who = owners("c17", count)
    add_devices(who)
    pid_file = str(stack.tmp / f"pids-cut-{uuid.uuid4().hex[:6]}")
    env = {
        "PUSHWORKER_NICKNAME_RESOLVER": "tests.faults.hooks.cut_database_for_visitor",
        hooks.PID_FILE: pid_file,
    }
    # No visitor name: the resolver runs, and for the "cut-…" visitor ends the drain's connection.
    targets = due_rows(who, {who[count // 2]: hooks.CUT_PREFIX + "1"})
    started = time.monotonic()
    stack.worker("w1", env=env)
    done_at = wait_finished(list(targets), timeout=60, what="after the drain's connection was cut")
    found = rows(list(targets))
    result = tally(
        stack,
        "drain's PostgreSQL connection cut",
        targets,
        recovery_s=done_at - started,
        crashes=sum(d.crashes for d in found.values()),
    )
    assert hooks.pids(pid_file).get(hooks.CUT_PREFIX + "1"), "the hook never cut a connection"
    check_promise(stack, result, targets)
    # The drain handed its batch back: no row waited for its claim to expire, none counted a crash.
    assert {d.crashes for d in found.values()} == {0}, {e: d.crashes for e, d in found.items()}
    return result


def connections_cut_mid_claim(
    stack: Stack, *, count: int = 400, cuts: int = 20, every_s: float = 0.25
) -> Result:
    """``pg_terminate_backend`` of every worker connection, every ``every_s`` while rows are left
    (at most ``cuts`` times), as two workers' drains claim a backlog of ``count`` due rows (half of
    them retries) in batches of 10, each request taking Xiaomi 0.5 s: cuts land in claims, in
    attempt rows, and after Xiaomi accepted a request whose outcome was never written."""
    require_postgres()
    who = owners("p17", count)
    add_devices(who)
    targets = due_rows(who)
    ids = list(targets)
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    env = {"PGAPPNAME": APPLICATION, "PUSHWORKER_BATCH_SIZE": "10"}
    stack.worker("w1", env=env)
    stack.worker("w2", env=env)

    def unsent() -> int:
        from pushworker.store.models import Delivery

        return Delivery.objects.filter(event_id__in=ids).exclude(status="sent").count()

    wait_for(lambda: unsent() < count, 30, message="the drains to send")
    started = time.monotonic()
    made, ended = 0, 0
    while made < cuts and unsent():
        ended += terminate_workers_backends()
        made += 1
        time.sleep(every_s)
    cut_done = time.monotonic()
    left = unsent()
    done_at = wait_finished(ids, timeout=90, what="after the connections were cut")
    found = rows(ids)
    result = tally(
        stack,
        f"PostgreSQL connections cut {made}× mid-claim",
        targets,
        recovery_s=done_at - cut_done,
        backends_ended=ended,
        unsent_after_cuts=left,
        crashes=sum(d.crashes for d in found.values()),
        flagged=sum(1 for d in found.values() if d.possible_duplicate),
        requests=requests(stack),
        cut_s=round(cut_done - started, 1),
    )
    assert made >= cuts // 2, f"the backlog was gone after {made} cuts: nothing to cut"
    check_promise(stack, result, targets)
    # No row waited for a dead run's claim to expire and be taken over.
    assert {d.crashes for d in found.values()} == {0}, sorted(d.crashes for d in found.values())
    return result
