"""Fault scenarios of the one delivery engine (issue #24): retries that wait as rows, under faults.

Every goods visit here joins the backlog (``batches.visits``), so drains claim the rows in batches;
a transient failure parks each event as a ``retrying`` row, and a later drain claims it again
with the others that are due. The workers' batches are small (``BATCH_SIZE``), so a few hundred
events make many groups and a short run still has batches to cut.

15a  a blip during a batched retry: every retry waits as a row and goes out in batches, and a
     second blip hits those batches; lost 0, a few requests per group, not one per event.
15b  SIGKILL of the whole worker while a batch of parked retries is in flight: the dead drain's
     rows are reclaimed, every repeat is flagged.
15c  an urgent event (order shipped) enqueued during a bulk backlog while the worker is killed:
     once a worker runs again, the urgent events end before most of the backlog ahead of them.
15d  an event in two request groups (Android and iPhone), one refused, one accepted: it waits for
     the refused one alone.
"""

from __future__ import annotations

import contextlib
import math
import time

from tests.faults.scenarios.batches import requests, visits
from tests.faults.scenarios.common import (
    PREFIX,
    TERMINAL,
    VT,
    Result,
    add_devices,
    open_requests,
    owners,
    published,
    rows,
    sends_per_target,
    tally,
    wait_finished,
)
from tests.support.stack import Stack, wait_for

BATCH = 50  # the workers' BATCH_SIZE: a few hundred events make several groups
LATENCY_MS = 2000  # as in worker.py: a killed run's request is still accepted by the emulator


def _env(batch: int = BATCH) -> dict[str, str]:
    return {"PUSHWORKER_BATCH_SIZE": str(batch)}


def _groups(count: int, batch: int = BATCH) -> int:
    return math.ceil(count / batch)


def parked_by_a_blip(stack: Stack, event_ids: list[str], timeout: float = 60) -> None:
    """Xiaomi answers 503 until every event has been refused (or held by the open breaker) at
    least once: each waits as a ``retrying`` row, no broker message."""
    stack.emulator.set_faults(fail_rate=1.0, fail_with="http503")

    def refused() -> bool:
        found = rows(event_ids)
        return len(found) == len(event_ids) and all(d.error_category for d in found.values())

    wait_for(refused, timeout, interval=0.2, message="every event refused by the blip")


def counted(
    stack: Stack, fault: str, targets: dict[str, str], recovery_s: float, **facts: object
) -> Result:
    """``tally`` with the emulator's requests: all of them, and those that carried one event."""
    return tally(
        stack,
        fault,
        targets,
        recovery_s=recovery_s,
        requests=requests(stack),
        singles=singles(stack),
        **facts,
    )


def singles(stack: Stack) -> int:
    """Requests that carried one event (``/v3/message/*``), not a batch (``multi_messages``)."""
    return sum(1 for r in stack.emulator.requests() if "multi" not in r["path"])


def rows_sent(event_ids: list[str]) -> int:
    return sum(1 for d in rows(event_ids).values() if d.status == "sent")


def flagged(event_ids: list[str]) -> set[str]:
    return {e for e, d in rows(event_ids).items() if d.possible_duplicate}


def duplicated(stack: Stack, targets: dict[str, str]) -> set[str]:
    counts = sends_per_target(stack)
    return {e for e, t in targets.items() if counts[t] > 1}


# -- 15a: a blip during a batched retry ----------------------------------------------------------


def blip_during_batched_retry(stack: Stack, *, count: int = 300, second_blip: int = 4) -> Result:
    """A blip parks a backlog as retry rows; the first retry request goes out, then the next
    ``second_blip`` requests (the retries' batches) are refused too. Every event ends sent, once,
    and the emulator sees a few requests per group of ``BATCH`` events, not one per event.

    A 503 says Xiaomi declined to start (``mipush.wire.parse_response``): nothing is flagged."""
    who = owners("e1", count)
    add_devices(who)
    targets = visits(who)
    ids = list(targets)
    stack.worker("w1", env=_env())
    parked_by_a_blip(stack, ids)
    refused_first = requests(stack)
    # The first request after the blip (the breaker's probe, or a retry batch) is answered; the
    # retry batches it lets loose meet the second blip.
    stack.emulator.set_faults(script=["ok", *["http503"] * second_blip])
    blip_ended = time.monotonic()
    done_at = wait_finished(ids, timeout=90, what="after two blips")
    found = rows(ids)
    result = counted(
        stack,
        "blip during a batched retry",
        targets,
        done_at - blip_ended,
        requests_in_first_blip=refused_first,
        retried=sum(1 for d in found.values() if d.retries),
        retried_twice=sum(1 for d in found.values() if d.retries >= 2),
    )
    assert stack.emulator.faults().script == (), "the second blip never met a retry batch"
    assert result.lost == 0 and result.sent == count, result
    assert result.duplicated == 0 and not flagged(ids), result  # a 503 reached nobody
    # Both blips together: a few requests per group (two quick tries each time a group is
    # refused, the breaker's probes, the tail the relay hands on alone), never one per event.
    bound = 8 * _groups(count) + 10
    assert result.facts["requests"] <= bound, (bound, result)
    return result


# -- 15b: SIGKILL while parked retries come due -------------------------------------------------


def worker_killed_while_retries_come_due(stack: Stack, *, count: int = 200) -> Result:
    """A blip parks a backlog as retry rows; SIGKILL the whole worker while a batch of them is in
    flight (Xiaomi accepts it after the kill), restart it. The dead drain's rows are reclaimed
    (one crash each) and sent again, flagged; nothing stays ``sending`` or ``retrying``."""
    who = owners("e2", count)
    add_devices(who)
    targets = visits(who)
    ids = list(targets)
    worker = stack.worker("w1", env=_env())
    parked_by_a_blip(stack, ids)
    stack.emulator.set_faults(latency_ms=LATENCY_MS)  # Xiaomi is back, slowly
    wait_for(lambda: open_requests(ids), 30, message="a retry batch in flight")
    worker.kill_group()
    killed_at = time.monotonic()
    in_flight = open_requests(ids)
    requests_before_kill = requests(stack)
    # Soft, as in batches.py: a run killed between recording its attempts and sending them leaves
    # a request the emulator never sees.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: sends_per_target(stack), LATENCY_MS / 1000 + 5, message="the answer")
    accepted_after_kill = {e for e in in_flight if sends_per_target(stack)[targets[e]]}
    stack.emulator.set_faults(None)
    stack.worker("w1-restarted", env=_env())
    done_at = wait_finished(ids, timeout=VT + 60, what="after the worker was killed")
    found = rows(ids)
    result = counted(
        stack,
        "SIGKILL worker while retries come due",
        targets,
        done_at - killed_at,
        in_flight=len(in_flight),
        accepted_after_kill=len(accepted_after_kill),
        requests_before_kill=requests_before_kill,
        taken_over=sum(1 for d in found.values() if d.crashes),
    )
    assert in_flight, "the kill did not catch a retry batch in flight"
    assert result.lost == 0 and result.sent == count, result
    repeats = duplicated(stack, targets)
    assert repeats <= in_flight and repeats <= flagged(ids), (repeats, in_flight, flagged(ids))
    assert flagged(ids) <= in_flight, "a row flagged that no cut request carried"
    assert all(found[e].crashes >= 1 for e in in_flight), "a dead drain's row was not taken over"
    assert all(d.status in TERMINAL for d in found.values())
    # A few requests per group, and one per event of the dead drains' batches: those rerun alone
    # (service.claim: an event that killed its drain cannot take others along again). Both pool
    # children may have held a batch, one of them not yet sending.
    bound = 8 * _groups(count) + 10 + result.facts["taken_over"]
    assert result.facts["requests"] <= bound, (bound, result)
    return result


# -- 15c: an urgent event during a bulk backlog while the worker is killed ----------------------


def ship(buyer: str, order: str) -> str:
    """``send_order_shipped.delay()`` as a view calls it (urgent: a message on its own queue)."""
    from pushworker.tasks import send_order_shipped

    return send_order_shipped.delay(buyer, order, "青花瓷碗", "顺丰").id


def urgent_during_backlog_while_killed(
    stack: Stack, *, count: int = 400, urgent: int = 3, batch: int = 20, latency_ms: int = 200
) -> Result:
    """A goods-visit backlog drains slowly (Xiaomi answers in ``latency_ms``); the worker is killed
    mid-batch, orders ship while it is down, and it restarts. The orders end sent before most of
    the visits that were still waiting when they were enqueued."""
    bulk_owners, buyers = owners("e3v", count), owners("e3u", urgent)
    add_devices(bulk_owners + buyers)
    stack.emulator.set_faults(latency_ms=latency_ms)
    bulk = visits(bulk_owners)
    bulk_ids = list(bulk)
    worker = stack.worker("w1", env=_env(batch))
    wait_for(lambda: rows_sent(bulk_ids), 30, message="the backlog draining")
    wait_for(lambda: open_requests(bulk_ids), 30, message="a batch in flight")
    worker.kill_group()
    killed_at = time.monotonic()
    in_flight = open_requests(bulk_ids)
    ahead = {e for e, d in rows(bulk_ids).items() if d.status not in TERMINAL}
    orders = {ship(buyer, f"o-{buyer}"): PREFIX + buyer for buyer in buyers}
    published()
    stack.worker("w1-restarted", env=_env(batch))
    everything = bulk | orders
    done_at = wait_finished(list(everything), timeout=VT + 90, what="after the worker was killed")
    found = rows(list(everything))
    last_order = max(found[e].finished_at for e in orders)
    behind = {e for e in ahead if found[e].finished_at > last_order}
    result = counted(
        stack,
        "urgent event during a backlog, worker killed",
        everything,
        done_at - killed_at,
        in_flight=len(in_flight),
        visits_ahead=len(ahead),
        visits_after_orders=len(behind),
    )
    assert in_flight, "the kill did not catch a batch in flight"
    assert result.lost == 0 and result.sent == len(everything), result
    assert all(found[e].status == "sent" for e in orders)
    repeats = duplicated(stack, everything)
    assert repeats <= flagged(list(everything)), (repeats, flagged(list(everything)))
    assert not flagged(list(orders)), "an order flagged though no request for it was cut"
    # Ordering, not time: the orders did not wait behind the backlog that was ahead of them.
    assert len(behind) * 2 >= len(ahead), (len(behind), len(ahead), result)
    return result


# -- 15d: one group of an event refused, the other accepted --------------------------------------


def one_group_refused_one_accepted(stack: Stack, *, count: int = 30) -> Result:
    """Each owner has an Android phone (alias, production) and an iPhone (regid, sandbox): two
    groups, two requests per batch. A blip on the sandbox alone refuses the iPhones' requests
    while the Android ones are accepted. Each event waits as a row for its iPhone only: the
    Android phone is never sent to again, no row ends before its iPhone has it, none is flagged
    (a 503 reached nobody)."""
    from pushworker.store.models import PushDevice

    who = owners("e4", count)
    add_devices(who)
    iphones = {owner: f"ios-{owner}" for owner in who}
    PushDevice.objects.bulk_create(
        [
            PushDevice(
                user_id=owner,
                app_name="qqc",
                os_type="ios",
                registration_id=regid,
                ios_environment="sandbox",
            )
            for owner, regid in iphones.items()
        ]
    )
    targets = visits(who)
    ids = list(targets)
    stack.emulator.set_faults(fail_rate=1.0, fail_with="http503", environment="sandbox")
    stack.worker("w1", env=_env(10))

    def android_sent_iphones_refused() -> bool:
        found = rows(ids)
        return len(sends_per_target(stack)) == count and all(
            d.error_category for d in found.values()
        )

    wait_for(android_sent_iphones_refused, 60, message="Android accepted, every iPhone refused")
    assert not [e for e, d in rows(ids).items() if d.status in TERMINAL], "ended before its iPhone"
    blip_ended = time.monotonic()
    stack.emulator.set_faults(None)
    done_at = wait_finished(ids, timeout=60, what="after the iPhones' blip")
    iphone_of = {e: iphones[t.removeprefix(PREFIX)] for e, t in targets.items()}
    result = counted(stack, "one group refused, one accepted", targets, done_at - blip_ended)
    counts = sends_per_target(stack)
    found = rows(ids)
    assert result.lost == 0 and result.sent == count, result
    assert all(counts[t] == 1 for t in targets.values()), "an Android phone was sent to again"
    assert all(counts[r] == 1 for r in iphone_of.values()), "an iPhone missed or sent twice"
    assert not flagged(ids), f"flagged though a 503 reached nobody: {flagged(ids)}"
    # Each waited as a row, a retry spent or the outage breaker's wait (which spends none).
    assert all(d.retries or d.error_category == "outage" for d in found.values())
    return result
