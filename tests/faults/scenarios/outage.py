"""Fault scenario 16: Xiaomi down for ten minutes (refused connections or HTTP 503) under a stream.

Issue #24's goal: while Xiaomi is down, the events enqueued meanwhile (goods visits and an order
shipped now and then) wait as rows instead of spending their budgets; the breaker
(``delivery/outage.py``) lets one probe at a time through, so Xiaomi sees a handful of requests,
not a few per event (goal: ≤ 2 requests/s); none ends ``dead`` or ``failed``; and once Xiaomi
answers again every event is sent within 60 s.

The scenario has one shape at any ``scale``: at 1.0 (``bench/faults.py --full``) the outage lasts
600 s and the worker runs the defaults of every setting that times an outage (the first probe
after 1 s, doubling to 30 s; goods visits live 30 min, shipped orders 24 h); the fault tests run
it at 1/30 (a 20 s outage, probes after 0.033 s up to 1 s, a goods visit lives 60 s). The stream's
rate (events per second) is not scaled: it decides whether each event runs from its own message
or joins a backlog, which a shorter outage does not change.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from datetime import datetime

from django.utils import timezone

from tests.faults.scenarios.common import (
    PREFIX,
    Result,
    add_devices,
    response_proxy,
    rows,
    sends_per_target,
    tally,
    visit,
    wait_finished,
)
from tests.support.stack import FAST_SETTINGS, Stack

FULL_OUTAGE_S = 600.0
CI_SCALE = 1 / 30  # a 20 s outage
LEAD = 0.1  # the stream starts this share of the outage before it
SHIPPED_EVERY = 10  # every 10th event of the stream is an order shipped
RECOVERY_GOAL_S = 60.0  # issue #24: every event sent within 60 s after the outage, at full length
RATE_GOAL = 2.0  # issue #24: at most 2 Xiaomi requests/s during it
CONCURRENCY = 2


def outage_settings(scale: float) -> dict[str, str]:
    """The worker's outage and lifetime settings: the defaults, times ``scale``."""
    from pushworker.conf.types import OutagePolicy
    from pushworker.events import registry

    knobs = OutagePolicy()
    lifetimes = ",".join(
        f"{kind}={cls.policy.lifetime.total_seconds() * scale:g}"
        for kind, cls in sorted(registry.kinds().items())
    )
    return {
        "PUSHWORKER_OUTAGE_FAILURES": str(knobs.failures),
        "PUSHWORKER_OUTAGE_PROBE_FIRST": f"{knobs.first_seconds * scale:g}",
        "PUSHWORKER_OUTAGE_PROBE_LONGEST": f"{knobs.longest_seconds * scale:g}",
        "PUSHWORKER_LIFETIMES": lifetimes,
    }


def probe_bound(settings: dict[str, str], outage_s: float) -> int:
    """The most requests the breaker lets through during an outage ``outage_s`` long.

    The failures that open it (each pool process may have one request in flight and its quick
    retries when it opens), then one probe per open period: doubling from the first to the longest,
    then one per longest period."""
    first = float(settings["PUSHWORKER_OUTAGE_PROBE_FIRST"])
    longest = float(settings["PUSHWORKER_OUTAGE_PROBE_LONGEST"])
    opening = int(settings["PUSHWORKER_OUTAGE_FAILURES"])
    opening += CONCURRENCY * int(FAST_SETTINGS["PUSHWORKER_QUICK_ATTEMPTS"])
    doublings = math.ceil(math.log2(longest / first)) + 1
    return opening + doublings + math.ceil(outage_s / longest) + 1


def requests_between(start: datetime, end: datetime) -> int:
    """Requests workers made in ``[start, end)``: an attempt row per event of a request, all with
    the request's start time (``store.attempts.start``), so one distinct time per request."""
    from pushworker.store.models import DeliveryAttempt

    return (
        DeliveryAttempt.objects.filter(started_at__gte=start, started_at__lt=end)
        .values("started_at")
        .distinct()
        .count()
    )


def shipped(buyer: str) -> str:
    """``send_order_shipped.delay()`` as the shop calls it; returns the event id."""
    from pushworker.tasks import TASKS

    task = TASKS["order_shipped"]
    return task.delay(buyer_id=buyer, order_id=f"o-{buyer}", goods_name="茶杯", carrier="顺丰").id


def xiaomi_outage(stack: Stack, mode: str, rate: float, *, scale: float = CI_SCALE) -> Result:
    """Xiaomi down (``refused``: nothing listens; ``http503``: every request answered 503) for
    600 s × ``scale`` during a stream of ``rate`` events/s (every 10th an order shipped)."""
    outage_s, lead_s = FULL_OUTAGE_S * scale, FULL_OUTAGE_S * scale * LEAD
    count = round((lead_s + outage_s) * rate)
    who = [f"o16-{n:05d}" for n in range(count)]
    add_devices(who)
    settings = outage_settings(scale)
    refused = mode == "refused"
    with response_proxy(stack) if refused else nullcontext() as gate:
        env = settings | ({"MIPUSH_PRODUCTION_URL": gate.url} if gate else {})
        stack.worker("w1", env=env, concurrency=CONCURRENCY)
        targets: dict[str, str] = {}
        started = time.monotonic()
        down_at, emulator_before = None, 0
        for n, owner in enumerate(who):
            time.sleep(max(0.0, started + n / rate - time.monotonic()))
            if down_at is None and time.monotonic() >= started + lead_s:
                down_at = timezone.now()
                if gate:
                    gate.refuse()
                else:
                    stack.emulator.set_faults(fail_rate=1.0, fail_with="http503")
                emulator_before = stack.emulator.stats()["requests"]
            event_id = shipped(owner) if n % SHIPPED_EVERY == SHIPPED_EVERY - 1 else visit(owner)
            targets[event_id] = PREFIX + owner
        time.sleep(max(0.0, started + lead_s + outage_s - time.monotonic()))
        assert down_at is not None
        emulator_during = stack.emulator.stats()["requests"] - emulator_before
        cured_at = timezone.now()
        if gate:
            gate.accept()
        else:
            stack.emulator.set_faults(None)
        wait_finished(list(targets), timeout=outage_s + 120, what="after Xiaomi came back")

    found, counts = rows(list(targets)), sends_per_target(stack)
    finished = [d.finished_at for d in found.values()]
    recovery_s = (max(finished) - cured_at).total_seconds()
    during = requests_between(down_at, cured_at)
    bound = probe_bound(settings, outage_s)
    label = "refused connections" if refused else "HTTP 503"
    result = tally(
        stack,
        f"Xiaomi down {outage_s:g} s ({label}), {rate:g} events/s",
        targets,
        recovery_s=recovery_s,
        requests_during=during,
        requests_per_s=round(during / outage_s, 3),
        sent_late=sum(1 for d in found.values() if d.finished_at > cured_at),
    )
    ended = {d.status for d in found.values()}
    assert not ended & {"dead", "failed"}, f"an outage killed events: {result}"
    assert result.lost == 0 and result.sent == result.events, result
    duplicated = {e for e, t in targets.items() if counts[t] > 1}
    flagged = {e for e, d in found.items() if d.possible_duplicate}
    assert duplicated <= flagged, f"unflagged duplicates: {sorted(duplicated - flagged)}"
    if not refused:  # what Xiaomi itself saw: the same requests the workers recorded
        assert emulator_during <= during + CONCURRENCY, (emulator_during, during)
    assert during <= bound, f"{during} requests during the outage, more than the probes' {bound}"
    assert during / outage_s <= RATE_GOAL, f"{during / outage_s:.2f} requests/s during the outage"
    # At full length the goal itself; scaled down, a generous share of the outage (a loaded
    # machine's drains, not the breaker, then set the pace). The real figure is in the report.
    limit = RECOVERY_GOAL_S if scale >= 1 else outage_s / 2
    assert recovery_s <= limit, f"all sent {recovery_s:.1f} s after the outage, over {limit:g} s"
    return result
