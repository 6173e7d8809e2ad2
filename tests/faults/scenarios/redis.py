"""Fault scenarios 4–7: Redis loses its data, restarts, refuses or hangs."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.faults.scenarios.common import (
    PREFIX,
    STALE_AFTER,
    Result,
    add_devices,
    check_once_each,
    check_request_bound,
    owners,
    published,
    queue_length,
    rows,
    tally,
    visit,
    wait_finished,
)
from tests.support.redis_server import RedisServer, SilentServer
from tests.support.stack import Stack, wait_for

# -- 4, 5, 6: Redis loses its data or restarts -------------------------------------------------


def redis_lost_queue(stack: Stack, *, count: int = 20) -> Result:
    """SIGKILL Redis (no persistence) with events queued and no worker; the sweeper republishes."""
    who = owners("r4", count)
    add_devices(who)
    targets = {visit(owner): PREFIX + owner for owner in who}
    ids = list(targets)
    published()
    assert queue_length(stack) == count
    stack.redis.kill()
    stack.redis.start()
    restarted_at = time.monotonic()
    assert queue_length(stack) == 0, "Redis without persistence kept the queue"
    stack.worker("w1")
    # Published rows older than PUSHWORKER_STALE_AFTER are republished by the sweeper.
    done_at = wait_finished(ids, timeout=STALE_AFTER + 30, what="after Redis lost its queue")

    result = tally(
        stack, "SIGKILL Redis, no persistence", targets, recovery_s=done_at - restarted_at
    )
    check_once_each(stack, result, targets)
    check_request_bound(stack, count)
    return result


@contextmanager
def aof_redis(stack: Stack) -> Iterator[RedisServer]:
    """The stack's Redis replaced, on the same port and password, by one with AOF everysec."""
    original = stack.redis
    original.stop()
    server = RedisServer(
        stack.tmp / f"redis-aof-{uuid.uuid4().hex[:6]}",
        aof=True,
        port=original.port,
        password=original.password,
    ).start()
    stack.redis = server
    try:
        yield server
    finally:
        for worker in stack.workers:
            worker.terminate(timeout=20)
        stack.workers.clear()
        server.stop()
        stack.redis = original
        original.start()


def redis_aof_survives(stack: Stack, *, count: int = 20) -> Result:
    """SIGKILL Redis with AOF everysec more than 1 s after the enqueue: the queue survives.

    The worker runs with the sweeper's staleness pushed out of reach, so every send proves that
    the message came back from the AOF file, not from the outbox.
    """
    who = owners("r5", count)
    add_devices(who)
    with aof_redis(stack) as server:
        targets = {visit(owner): PREFIX + owner for owner in who}
        ids = list(targets)
        published()
        time.sleep(1.5)  # appendfsync everysec: older writes are on disk
        server.kill()
        server.start()
        restarted_at = time.monotonic()
        survived = queue_length(stack)
        stack.worker("w1", env={"PUSHWORKER_STALE_AFTER": "600"})
        done_at = wait_finished(ids, timeout=30, what="from the AOF-restored queue")
        result = tally(
            stack,
            "SIGKILL Redis, AOF everysec",
            targets,
            recovery_s=done_at - restarted_at,
            survived=survived,
        )
    assert survived == count, f"{survived}/{count} queued messages survived the restart"
    check_once_each(stack, result, targets)
    check_request_bound(stack, count)
    return result


def redis_restart_idle(stack: Stack, *, bound: float = 20.0) -> Result:
    """Restart Redis under an idle worker: it resumes consuming, a canary is sent in seconds."""
    who = owners("r6", 2)
    add_devices(who)
    stack.worker("w1")
    warm = visit(who[0])
    wait_finished([warm], timeout=15, what="(warm-up)")
    worker = stack.workers[-1]
    seen = len(worker.log())
    stack.redis.kill()
    # The idle worker notices the lost connection before Redis comes back.
    wait_for(
        lambda: "Connection to broker lost" in worker.log()[seen:], 20, message="lost connection"
    )
    stack.redis.start()
    restarted_at = time.monotonic()
    canary = visit(who[1])
    published()
    # Straight into Redis, or (the web side's pooled connection died with Redis) via the relay.
    direct = rows([canary])[canary].published_at is not None
    done_at = wait_finished([canary], timeout=bound, what="(canary after the Redis restart)")

    targets = {warm: PREFIX + who[0], canary: PREFIX + who[1]}
    result = tally(
        stack,
        "Redis restart, idle worker",
        targets,
        recovery_s=done_at - restarted_at,
        canary_path="broker" if direct else "outbox",
    )
    check_once_each(stack, result, targets)
    check_request_bound(stack, 2)
    return result


# -- 7 and delay_on_commit: the web side never waits --------------------------------------------


@contextmanager
def redis_unavailable(stack: Stack, mode: str) -> Iterator[None]:
    """Redis refusing connections (stopped) or accepting them and never answering (silent)."""
    stack.redis.kill()
    silent = SilentServer(stack.redis.port) if mode == "silent" else None
    try:
        yield
    finally:
        if silent is not None:
            silent.close()
        stack.redis.start()


def budget_seconds() -> float:
    from pushworker import conf

    return conf.get().enqueue_budget_seconds


def enqueue_burst_while_redis_down(
    stack: Stack, mode: str, *, count: int = 200, pace: float = 0.015
) -> Result:
    """200 ``delay()`` calls while Redis refuses (``refused``) or hangs (``silent``).

    Each call must return within the enqueue budget (checked with a generous scheduling margin:
    twice the budget), the breaker must spare most calls the wait, the outbox must hold every
    event, and after Redis returns the relay must get each one sent exactly once.
    """
    from pushworker import conf

    settings = conf.get()
    budget = settings.enqueue_budget_seconds
    who = owners(f"b7{mode[0]}", count)
    add_devices(who)
    stack.worker("w1")
    durations: list[float] = []
    targets: dict[str, str] = {}
    with redis_unavailable(stack, mode):
        burst_started = time.monotonic()
        for owner in who:
            started = time.perf_counter()
            event_id = visit(owner)
            durations.append(time.perf_counter() - started)
            targets[event_id] = PREFIX + owner
            time.sleep(pace)  # web traffic spread over a few breaker cool-downs
        burst_s = time.monotonic() - burst_started
        published()  # a publish that was handed off fails, or runs out of the budget, meanwhile
        kept = rows(list(targets))
        unpublished = sum(1 for d in kept.values() if d.published_at is None)
    back_at = time.monotonic()
    done_at = wait_finished(list(targets), timeout=90, what=f"after Redis was {mode}")

    slow = [d for d in durations if d > budget / 2]
    ms = sorted(d * 1000 for d in durations)
    distribution = {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
        "max_ms": round(ms[-1], 2),
        "paid_budget": len(slow),
        "burst_s": round(burst_s, 2),
    }
    result = tally(
        stack,
        f"Redis {mode} during {count} enqueues",
        targets,
        recovery_s=done_at - back_at,
        budget_ms=budget * 1000,
        **distribution,
    )
    print(f"\n{result.fault}: enqueue call durations {distribution}, budget {budget * 1000:.0f} ms")
    assert max(durations) <= 2 * budget, (
        f"a call took {max(durations) * 1000:.0f} ms: {distribution}"
    )
    # The breaker: while it is open calls skip the broker, so only about one call per cool-down
    # pays the budget (plus the first).
    allowed = int(burst_s / settings.breaker_cooldown_seconds) + 2
    assert len(slow) <= allowed, f"{len(slow)} calls waited on the broker (<= {allowed} expected)"
    assert len(kept) == count, f"the outbox kept {len(kept)}/{count} events"
    assert unpublished == count, f"{count - unpublished} rows claim Redis took them"
    check_once_each(stack, result, targets)
    check_request_bound(stack, count)
    return result


def delay_on_commit_while_redis_down(stack: Stack, mode: str) -> Result:
    """``delay_on_commit`` inside ``atomic()`` while Redis is down: the commit succeeds at once."""
    from django.db import transaction

    from pushworker.store.models import PushDevice
    from pushworker.tasks import send_goods_visit

    budget = budget_seconds()
    owner = f"c-{mode}"
    event_id = str(uuid.uuid4())
    with redis_unavailable(stack, mode):
        started = time.perf_counter()
        with transaction.atomic():
            PushDevice.objects.create(user_id=owner, app_name="qqc", os_type="android")
            send_goods_visit.delay_on_commit(
                owner_id=owner,
                visitor_id="v-c",
                goods_id="g-1",
                goods_name="茶杯",
                visitor_name="小红",
                event_id=event_id,
            )
        commit_s = time.perf_counter() - started
        published()
        row = rows([event_id]).get(event_id)
        device_kept = PushDevice.objects.filter(user_id=owner).exists()
    back_at = time.monotonic()
    stack.worker("w1")
    done_at = wait_finished([event_id], timeout=30, what="after the commit")

    targets = {event_id: PREFIX + owner}
    result = tally(
        stack,
        f"delay_on_commit, Redis {mode}",
        targets,
        recovery_s=done_at - back_at,
        commit_ms=round(commit_s * 1000, 1),
    )
    assert commit_s <= 2 * budget + 0.5, f"the commit took {commit_s * 1000:.0f} ms"
    assert device_kept, "the caller's own data was not committed"
    assert row is not None and row.status == "queued" and row.published_at is None, row
    check_once_each(stack, result, targets)
    check_request_bound(stack, 1)
    return result
