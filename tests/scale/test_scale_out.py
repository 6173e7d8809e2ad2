"""Several worker hosts on one broker (issue 12): throughput adds up, one Xiaomi limit holds,
a dead host loses nothing, and beat sends from one host only.

Every host is a real ``celery worker`` in its own network namespace, reaching Redis, PostgreSQL
(through a forwarder) and the emulator over a bridge. The machine is small and shared, so the
assertions are ratios and bounds with margin, measured within one run; the figures are printed
(``pytest -s``) for the README.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from tests.scale.stack import ScaleStack, wait_for

pytestmark = pytest.mark.timeout(900)

LATENCY_MS = 50
LIMIT = 20


def enqueue(count: int) -> list[str]:
    """``count`` visits, each with a message of its own.

    These scenarios count requests per event (throughput, the limit, a cut request), so the burst
    queued before any host runs must not become a backlog that batch runs send in a few
    multi_messages requests (those: tests/faults/test_batches.py and bench/drain.py).
    """
    from pushworker import conf, tasks
    from pushworker.store.models import PushDevice

    PushDevice.objects.bulk_create(
        [PushDevice(user_id=f"u{i}", app_name="qqc", os_type="android") for i in range(count)]
    )
    before = os.environ.get("PUSHWORKER_BACKLOG_THRESHOLD")
    os.environ["PUSHWORKER_BACKLOG_THRESHOLD"] = str(10 * count)
    conf.get.cache_clear()
    try:
        return [
            tasks.send_goods_visit.delay(
                owner_id=f"u{i}", visitor_id="v", goods_id=str(i), goods_name="bike"
            ).id
            for i in range(count)
        ]
    finally:
        if before is None:
            os.environ.pop("PUSHWORKER_BACKLOG_THRESHOLD")
        else:
            os.environ["PUSHWORKER_BACKLOG_THRESHOLD"] = before
        conf.get.cache_clear()


def all_sent(count: int) -> bool:
    from pushworker.store.models import Delivery, DeliveryStatus

    return Delivery.objects.filter(status=DeliveryStatus.SENT).count() >= count


def request_times(stack: ScaleStack) -> list[float]:
    return sorted(r["received_at"] for r in stack.emulator.requests() if r["outcome"] == "ok")


def steady_rate(times: list[float]) -> float:
    """Requests/s between the 10th and the 90th percentile: start-up and tail left out."""
    low, high = times[len(times) // 10], times[len(times) * 9 // 10]
    return (len(times) * 8 // 10) / (high - low)


def run(stack: ScaleStack, hosts: int, events: int, **kwargs) -> float:
    stack.reset()
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    enqueue(events)  # queued before any host runs: every host starts on a full queue
    stack.start_hosts(hosts, **kwargs)
    wait_for(lambda: all_sent(events), 300, f"{events} deliveries sent by {hosts} host(s)")
    return steady_rate(request_times(stack))


def test_throughput_adds_up_with_hosts(fresh: ScaleStack) -> None:
    """Two hosts drain a queue at least 1.8x as fast as one, at 50 ms per Xiaomi request.

    Other engineers' jobs come and go on this machine, so a pair of runs that falls short is
    measured once more and the better pair counts: a slow minute must not fail the test, while
    hosts that do not add up fail both pairs.
    """
    pairs = []
    for _ in range(2):
        one = run(fresh, 1, 150)
        two = run(fresh, 2, 300)
        pairs.append((two / one, one, two))
        print(
            f"\nthroughput at {LATENCY_MS} ms latency: 1 host {one:.1f}/s, "
            f"2 hosts {two:.1f}/s, ratio {two / one:.2f}"
        )
        if two >= 1.8 * one:
            break
    ratio, one, two = max(pairs)
    assert ratio >= 1.8, f"2 hosts {two:.1f}/s vs 1 host {one:.1f}/s"


def test_the_rate_limit_holds_across_hosts(fresh: ScaleStack) -> None:
    from pushworker.store.models import Delivery

    events = 120
    fresh.emulator.set_faults(latency_ms=LATENCY_MS)
    enqueue(events)
    fresh.start_hosts(3, concurrency=2, env={"PUSHWORKER_RATE_LIMIT": f"{LIMIT}"})
    wait_for(lambda: all_sent(events), 300, "every delivery sent under the limit")
    times = request_times(fresh)
    per_second = Counter(int(t) for t in times)
    full = [per_second[s] for s in range(int(times[0]) + 1, int(times[-1]))]  # whole seconds
    seconds = range(int(times[0]), int(times[-1]) + 1)
    pairs = [per_second[s] + per_second[s + 1] for s in seconds]
    print(
        f"\nlimit {LIMIT}/s over 3 hosts: per-second requests {full}, max {max(full)}, "
        f"max over 2 s {max(pairs)}"
    )
    # The limiter spaces admissions in Redis's clock; the emulator sees them after a scheduling
    # delay that differs per process, so one calendar second can borrow a request or three from
    # its neighbour on a loaded machine. Any two consecutive seconds hold the limit + 10 %.
    assert max(pairs) <= 2 * LIMIT * 1.1, per_second
    assert sum(full) / len(full) >= LIMIT * 0.7, "the limit was not even approached"
    # Waiting for the limit is no failure: nobody spent a retry on it, nothing was sent twice.
    assert not Delivery.objects.filter(retries__gt=0).exists()
    assert len(times) == events


def test_killing_a_host_mid_stream_loses_nothing(fresh: ScaleStack) -> None:
    from pushworker.store.models import Delivery

    events = 200
    fresh.emulator.set_faults(latency_ms=LATENCY_MS)
    enqueue(events)
    victim, survivor = fresh.start_hosts(
        2, concurrency=2, env={"PUSHWORKER_RATE_LIMIT": f"{LIMIT}"}
    )
    wait_for(lambda: len(fresh.emulator.requests()) >= events // 4, 120, "a quarter sent")
    victim.kill()
    killed_at = time.monotonic()
    wait_for(lambda: all_sent(events), 300, "every delivery sent after a host died")
    recovered = time.monotonic() - killed_at
    delivered = Counter(m["fields"]["notify_id"] for m in fresh.emulator.messages())
    repeats = sum(n - 1 for n in delivered.values())
    print(
        f"\nkilled a host with {events // 4}+ of {events} sent: all sent {recovered:.1f} s "
        f"later (visibility timeout 13 s), {repeats} repeated request(s)"
    )
    assert len(delivered) == events
    # A repeat is possible only for a request cut by the kill, and it is flagged.
    flagged = Delivery.objects.filter(possible_duplicate=True).count()
    assert repeats <= flagged <= 2 * 2


def test_beat_sends_from_one_host_and_another_takes_over(fresh: ScaleStack) -> None:
    # Beat writes no line for an idle relay or sweep (pushworker.ops.logs.quiet_maintenance), so the
    # lock's own lines tell which beat sends: a scheduler sends due tasks only while it holds it.
    hosts = fresh.start_hosts(2, beat=True)
    sender, standby = "beat is the sender", "beat stands by"

    def senders() -> list[int]:
        return [i for i, host in enumerate(hosts) if sender in host.log()]

    wait_for(
        lambda: all(sender in h.log() or standby in h.log() for h in hosts),
        60,
        "both beats deciding who sends",
    )
    assert len(senders()) == 1, [h.log().count(sender) for h in hosts]
    holder, waiting = hosts[senders()[0]], hosts[1 - senders()[0]]
    assert standby in waiting.log()
    holder.kill()
    killed_at = time.monotonic()
    wait_for(lambda: sender in waiting.log(), 60, "the standby beat taking over")
    print(
        f"\nbeat: one sender of two; the standby took over {time.monotonic() - killed_at:.1f} s "
        "after the sender's host died (lock 15 s)"
    )
