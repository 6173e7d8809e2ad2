"""Fault scenarios of issue #4, shared by tests/faults and bench/faults.py.

Each scenario injects one fault into the real pipeline (Redis, ``celery worker`` subprocesses, the
emulator over HTTP, the database), lets it recover, asserts the promise on the emulator's record
and the Delivery rows, and returns a :class:`Result` for the report. Every wait is bounded, and
every scenario bounds the number of requests the emulator may see.

Counting: an event is *lost* when it did not end in its expected status or Xiaomi never got it;
*duplicated* counts the extra sends the emulator accepted for one target (one target per event).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from tests.faults import hooks
from tests.support.proxy import ResponseProxy
from tests.support.redis_server import RedisServer, SilentServer
from tests.support.stack import FAST_SETTINGS, Stack, wait_for

TERMINAL = {"sent", "partial", "suppressed", "failed", "dead"}
VT = int(FAST_SETTINGS["PUSHWORKER_VISIBILITY_TIMEOUT"])
STALE_AFTER = int(FAST_SETTINGS["PUSHWORKER_STALE_AFTER"])
READ_TIMEOUT = float(FAST_SETTINGS["MIPUSH_READ_TIMEOUT"])
PREFIX = "QQC_"  # the default app's alias prefix: a device of owner N is reached as QQC_N
QUEUE = "pushworker"


@dataclass
class Result:
    """One row of the faults report."""

    fault: str
    events: int
    sent: int
    lost: int
    duplicated: int
    recovery_s: float | None
    facts: dict[str, Any] = field(default_factory=dict)


# -- building blocks ----------------------------------------------------------------------------


def add_devices(owners: list[str], os_type: str = "android") -> None:
    from pushworker.models import PushDevice

    PushDevice.objects.bulk_create(
        [PushDevice(user_id=owner, app_name="qqc", os_type=os_type) for owner in owners]
    )


def owners(tag: str, count: int) -> list[str]:
    return [f"{tag}{n:03d}" for n in range(count)]


def visit(owner: str, **overrides: Any) -> str:
    """``send_goods_visit.delay()`` as a view calls it; returns the event id."""
    from pushworker.tasks import send_goods_visit

    kwargs = {
        "owner_id": owner,
        "visitor_id": f"v-{owner}",
        "goods_id": "g-9",
        "goods_name": "青花瓷碗",
        "visitor_name": "小明",
    } | overrides
    return send_goods_visit.delay(**kwargs).id


def event_kwargs(owner: str, event_id: str, **overrides: Any) -> dict[str, Any]:
    """The task's keyword arguments, for publishing by hand with ``apply_async``."""
    return {
        "owner_id": owner,
        "visitor_id": f"v-{owner}",
        "goods_id": "g-9",
        "goods_name": "青花瓷碗",
        "visitor_name": "小明",
        "app_name": None,
        "event_id": event_id,
    } | overrides


def rows(event_ids: list[str]) -> dict[str, Any]:
    from pushworker.models import Delivery

    return {str(d.event_id): d for d in Delivery.objects.filter(event_id__in=event_ids)}


def wait_finished(event_ids: list[str], timeout: float, what: str = "") -> float:
    """Wait until every event's row is terminal; the monotonic time it happened."""

    def done() -> bool:
        found = rows(event_ids)
        return len(found) == len(event_ids) and all(d.status in TERMINAL for d in found.values())

    def progress() -> str:
        return str(Counter(d.status for d in rows(event_ids).values()))

    try:
        wait_for(done, timeout, interval=0.2, message=f"{len(event_ids)} events to finish {what}")
    except AssertionError as error:
        raise AssertionError(f"{error}; statuses now {progress()}") from None
    return time.monotonic()


def sends_per_target(stack: Stack) -> Counter[str]:
    """How many accepted sends the emulator recorded for each target."""
    return Counter(t for message in stack.emulator.messages() for t in message["targets"])


def open_requests(event_ids: list[str]) -> set[str]:
    """The events with a request to Xiaomi started and not finished."""
    from pushworker.models import DeliveryAttempt

    return {
        str(e)
        for e in DeliveryAttempt.objects.filter(
            delivery__event_id__in=event_ids, status="sending"
        ).values_list("delivery__event_id", flat=True)
    }


def tally(
    stack: Stack,
    fault: str,
    targets: dict[str, str],
    *,
    recovery_s: float | None,
    expect: dict[str, str] | None = None,
    **facts: Any,
) -> Result:
    """Count ``targets`` (event id -> alias) against the rows and the emulator's record."""
    expect = expect or {}
    found = rows(list(targets))
    counts = sends_per_target(stack)
    sent = sum(1 for e in targets if found.get(e) and found[e].status == "sent")
    lost = 0
    for event_id, target in targets.items():
        wanted = expect.get(event_id, "sent")
        row = found.get(event_id)
        if row is None or row.status != wanted or (wanted == "sent" and counts[target] == 0):
            lost += 1
    duplicated = sum(max(0, counts[t] - 1) for t in targets.values())
    return Result(fault, len(targets), sent, lost, duplicated, recovery_s, facts)


def check_once_each(stack: Stack, result: Result, targets: dict[str, str]) -> None:
    """The plain promise: nothing lost, nothing sent twice."""
    counts = sends_per_target(stack)
    assert result.lost == 0, f"lost {result.lost} events: {result}"
    assert result.sent == result.events, f"{result.sent}/{result.events} sent: {result}"
    extra = {t: counts[t] for t in targets.values() if counts[t] != 1}
    assert not extra, f"targets not sent exactly once: {extra}"
    flagged = [e for e, d in rows(list(targets)).items() if d.possible_duplicate]
    assert not flagged, f"rows flagged possible_duplicate though no request was cut: {flagged}"


def check_request_bound(stack: Stack, bound: int) -> None:
    requests = stack.emulator.stats()["requests"]
    assert requests <= bound, f"the emulator saw {requests} requests, more than the bound {bound}"


def emulator_address(stack: Stack) -> tuple[str, int]:
    parts = urlsplit(stack.emulator.production_url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@contextmanager
def response_proxy(stack: Stack) -> Iterator[ResponseProxy]:
    """A proxy between worker and emulator that can cut answers Xiaomi already gave."""
    proxy = ResponseProxy(*emulator_address(stack)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5)


def redis_client(stack: Stack):
    return _redis(stack.redis.url)


def queue_length(stack: Stack) -> int:
    return int(redis_client(stack).llen(QUEUE))


def broker_drained(stack: Stack) -> bool:
    """No message left in the queue or held unacknowledged by a worker."""
    client = redis_client(stack)
    return client.llen(QUEUE) == 0 and client.hlen("unacked") == 0


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
    time.sleep(LATENCY_MS / 1000 + 0.5)  # the emulator finishes (and records) the cut requests
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


def _pid_env(stack: Stack, name: str) -> tuple[dict[str, str], str]:
    path = str(stack.tmp / f"pids-{name}-{uuid.uuid4().hex[:6]}")
    return {
        "PUSHWORKER_NICKNAME_RESOLVER": "tests.faults.hooks.kill_for_visitor",
        hooks.PID_FILE: path,
    }, path


def pool_child_killed(stack: Stack, *, count: int = 4) -> Result:
    """SIGKILL the one pool child that is sending; the main process and beat live on.

    The child is found by the event it resolved the nickname for (``tests.faults.hooks``): beat
    is a child of the main process too, so "a child" is not enough. With
    ``task_reject_on_worker_lost`` its message is requeued at once, not after the visibility
    timeout.
    """
    who = owners("k2", count)
    add_devices(who)
    pid_env, pid_file = _pid_env(stack, "child")
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
    time.sleep(0.2)
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


# -- 4, 5, 6: Redis loses its data or restarts -------------------------------------------------


def redis_lost_queue(stack: Stack, *, count: int = 20) -> Result:
    """SIGKILL Redis (no persistence) with events queued and no worker; the sweeper republishes."""
    who = owners("r4", count)
    add_devices(who)
    targets = {visit(owner): PREFIX + owner for owner in who}
    ids = list(targets)
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
    stack.redis.kill()
    time.sleep(1.0)
    stack.redis.start()
    restarted_at = time.monotonic()
    canary = visit(who[1])
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

    from pushworker.models import PushDevice
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


# -- 8, 9, 10: Xiaomi misbehaves ----------------------------------------------------------------


def xiaomi_errors_then_success(stack: Stack, kind: str, *, times: int = 3) -> Result:
    """The emulator answers ``kind`` (http500, 10002, 10027, ...) ``times`` times, then accepts."""
    owner = f"x8-{kind}"
    add_devices([owner])
    stack.emulator.set_faults(script=(kind,) * times, target=PREFIX + owner)
    stack.worker("w1")
    started = time.monotonic()
    event_id = visit(owner)
    done_at = wait_finished([event_id], timeout=30, what=f"through {times}× {kind}")

    targets = {event_id: PREFIX + owner}
    row = rows([event_id])[event_id]
    result = tally(
        stack,
        f"Xiaomi {kind} ×{times} then OK",
        targets,
        recovery_s=done_at - started,
        attempts=row.attempts,
        retries=row.retries,
    )
    assert row.status == "sent", (row.status, row.error_code, row.error_reason)
    assert row.attempts == times + 1, f"attempts {row.attempts}, expected {times + 1}"
    assert stack.emulator.stats()["requests"] == times + 1
    assert sends_per_target(stack)[PREFIX + owner] == 1
    # An explicit Xiaomi refusal (an error code) was certainly not delivered; a bare 500 may
    # have been (the client calls it maybe_delivered), so repeating it is a possible duplicate.
    maybe_delivered = kind == "http500"
    assert row.possible_duplicate is maybe_delivered, (kind, row.possible_duplicate)
    return result


def xiaomi_no_answer(stack: Stack, kind: str) -> Result:
    """A send gets no usable answer, once; the read timeout or the reset frees the slot.

    ``hang``: the emulator never answers (nor records the send); the read timeout cuts it.
    ``reset``: the emulator resets the connection mid-response (it recorded nothing).
    ``reset-after-accept``: the emulator accepted and recorded the send, and the proxy resets the
    connection instead of passing the answer on: a real duplicate when the worker retries.
    A worker with one pool process shows the slot is freed: a second event is sent after.
    In every case the cut request may have reached Xiaomi, so its repeat is flagged.
    """
    first, second = f"x9a-{kind}", f"x9b-{kind}"
    add_devices([first, second])
    accepted = kind == "reset-after-accept"
    with response_proxy(stack) if accepted else nullcontext() as proxy:
        env = {}
        if proxy is not None:
            proxy.reset_next(1)
            env = {"MIPUSH_PRODUCTION_URL": proxy.url}
        else:
            stack.emulator.set_faults(script=(kind,), target=PREFIX + first)
        stack.worker("w1", env=env, concurrency=1)
        started = time.monotonic()
        stuck = visit(first)
        after = visit(second)
        done_at = wait_finished([stuck, after], timeout=VT + 20, what=f"after a {kind}")

    from pushworker.models import DeliveryAttempt

    targets = {stuck: PREFIX + first, after: PREFIX + second}
    found = rows(list(targets))
    attempts = list(DeliveryAttempt.objects.filter(delivery__event_id=stuck).order_by("pk"))
    cut = attempts[0]
    cut_s = (cut.finished_at - cut.started_at).total_seconds()
    result = tally(
        stack,
        f"Xiaomi {kind}",
        targets,
        recovery_s=done_at - started,
        cut_attempt_s=round(cut_s, 2),
        cut_status=cut.status,
    )
    counts = sends_per_target(stack)
    row = found[stuck]
    assert result.lost == 0 and result.sent == 2, f"not all sent: {result}"
    assert row.attempts == 2, f"attempts {row.attempts}: one cut request, one retry"
    assert row.crashes == 0 and not row.redelivered, "the run outlived its visibility timeout"
    assert found[after].finished_at > cut.finished_at, "the second event waited for the slot"
    if kind == "hang":
        assert READ_TIMEOUT - 0.5 <= cut_s < VT, f"the hung request was cut after {cut_s:.1f} s"
    # The cut request's outcome is unknown: Xiaomi may have acted on it, so it is not "failed".
    assert cut.status == "unknown", f"the cut attempt was recorded {cut.status!r}"
    assert row.possible_duplicate, "a request whose answer was lost was repeated unflagged"
    expected = 2 if accepted else 1
    assert counts[PREFIX + first] == expected, (kind, counts[PREFIX + first])
    assert counts[PREFIX + second] == 1
    check_request_bound(stack, 3)
    return result


def xiaomi_refusals(stack: Stack) -> Result:
    """21301 (bad secret), 20301 (unknown alias) and 65011 (empty title): no retry, code kept."""
    ios, unknown, empty = "x10-21301", "x10-20301", "x10-65011"
    add_devices([ios], os_type="ios")
    add_devices([unknown, empty])
    # 20301: Xiaomi knows every alias but this one's.
    stack.emulator.set_known_targets({PREFIX + ios, PREFIX + empty})
    # 65011: pushworker always sends a title and a description, so only a fault provokes it.
    stack.emulator.set_faults(script=("65011",), target=PREFIX + empty)
    stack.worker("w1", env={"MIPUSH_IOS_APP_SECRET": "not-the-ios-secret"})
    started = time.monotonic()
    events = {visit(ios): 21301, visit(unknown): 20301, visit(empty): 65011}
    done_at = wait_finished(list(events), timeout=20, what="(refused by Xiaomi)")
    time.sleep(1.0)  # a retry, if one were scheduled, would show up now

    from pushworker.models import PushDevice

    found = rows(list(events))
    targets = {e: PREFIX + found[e].owner_id for e in events}
    result = tally(
        stack,
        "Xiaomi 21301 / 20301 / 65011",
        targets,
        recovery_s=done_at - started,
        expect={e: "failed" for e in events},
    )
    categories = {21301: "configuration", 20301: "invalid_target", 65011: "bad_request"}
    for event_id, code in events.items():
        row = found[event_id]
        got = (row.status, row.error_code, row.error_category, row.attempts, row.retries)
        assert got == ("failed", code, categories[code], 1, 0), f"{code}: {got}"
    assert stack.emulator.stats()["requests"] == 3, "a refused send was retried"
    assert stack.emulator.messages() == []
    assert not PushDevice.objects.get(user_id=unknown).is_active, "20301 keeps the device active"
    assert PushDevice.objects.get(user_id=empty).is_active
    assert result.lost == 0
    return result


# -- 11: the same event more than once ----------------------------------------------------------


def same_event_twice(stack: Stack) -> Result:
    """The same event id enqueued twice plus a raw second publish; and countdowns beyond the
    visibility timeout, which Redis hands out a second time while the first copy waits."""
    from pushworker.tasks import send_goods_visit

    twice, later = "d11-twice", owners("d11-eta", 4)
    add_devices([twice, *later])
    stack.emulator.set_faults(latency_ms=1000)  # copies that run together overlap in flight
    stack.worker("w1")
    started = time.monotonic()
    delayed = {}
    for owner in later:
        event_id = str(uuid.uuid4())
        send_goods_visit.apply_async(
            kwargs=event_kwargs(owner, event_id), task_id=event_id, countdown=VT + 5
        )
        delayed[event_id] = PREFIX + owner
    event_id = str(uuid.uuid4())
    assert visit(twice, event_id=event_id) == event_id
    assert visit(twice, event_id=event_id) == event_id
    send_goods_visit.apply_async(kwargs=event_kwargs(twice, event_id), task_id=event_id)
    targets = {event_id: PREFIX + twice, **delayed}
    done_at = wait_finished(list(targets), timeout=VT + 30, what="(duplicates and countdowns)")
    # Every copy must have run (or been dropped) before the count is final.
    wait_for(lambda: broker_drained(stack), 3 * VT, interval=0.5, message="the broker to drain")
    time.sleep(1.5)

    result = tally(stack, "same event ×3, countdown > VT", targets, recovery_s=done_at - started)
    check_once_each(stack, result, targets)
    check_request_bound(stack, len(targets))
    return result


# -- 12 and garbage: messages that hurt the worker ---------------------------------------------


def poison_message(stack: Stack) -> Result:
    """A message whose run kills the pool child every time ends ``dead`` after MAX_CRASHES."""
    from pushworker import conf

    max_crashes = conf.get().max_crashes
    poisoned, healthy = "p12-poison", "p12-healthy"
    add_devices([poisoned, healthy])
    pid_env, pid_file = _pid_env(stack, "poison")
    worker = stack.worker("w1", env=pid_env)
    started = time.monotonic()
    # No visitor_name: the resolver runs, and kills its process for "poison-…" visitors.
    bad = visit(poisoned, visitor_id=f"{hooks.POISON_PREFIX}1", visitor_name=None)
    good = visit(healthy, visitor_name=None)
    done_at = wait_finished([bad, good], timeout=40, what="(poison message)")

    found = rows([bad, good])
    kills = len(hooks.pids(pid_file).get(f"{hooks.POISON_PREFIX}1", []))
    targets = {bad: PREFIX + poisoned, good: PREFIX + healthy}
    result = tally(
        stack,
        "poison message kills its child",
        targets,
        recovery_s=done_at - started,
        expect={bad: "dead"},
        kills=kills,
    )
    row = found[bad]
    assert (row.status, row.error_category) == ("dead", "poison"), (row.status, row.error_reason)
    assert row.crashes == max_crashes, f"crashes {row.crashes}, expected {max_crashes}"
    assert kills == max_crashes, f"the poison killed {kills} children, expected {max_crashes}"
    assert found[good].status == "sent"
    assert sends_per_target(stack)[PREFIX + poisoned] == 0
    assert worker.process is not None and worker.process.poll() is None, "the worker died"
    check_request_bound(stack, 1)
    return result


def _captured_envelope(stack: Stack, kwargs: dict[str, Any], task_id: str) -> dict[str, Any]:
    """A real message as the producer writes it, taken from a queue nobody consumes."""
    from pushworker.tasks import send_goods_visit

    send_goods_visit.apply_async(kwargs=kwargs, task_id=task_id, queue="faults.capture")
    raw = redis_client(stack).rpop("faults.capture")
    assert raw is not None
    return json.loads(raw)


def _with_body(
    envelope: dict[str, Any], args: list[Any], kwargs: dict[str, Any], **headers: Any
) -> bytes:
    message = json.loads(json.dumps(envelope))
    body = json.dumps(
        [args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    )
    message["body"] = base64.b64encode(body.encode()).decode()
    message["headers"].update(headers)
    message["properties"]["delivery_info"]["routing_key"] = QUEUE
    message["properties"]["delivery_tag"] = str(uuid.uuid4())  # two entries never share a tag
    return json.dumps(message).encode()


def garbage_on_the_queue(stack: Stack) -> Result:
    """Entries pushed onto the queue by hand neither kill nor wedge the worker."""
    from pushworker.models import DeadLetter

    DeadLetter.objects.all().delete()
    owner, after = "g-bad", "g-after"
    add_devices([owner, after])
    worker = stack.worker("w1")
    pid = worker.process.pid if worker.process else None
    bad_types = str(uuid.uuid4())
    template = _captured_envelope(stack, event_kwargs(owner, bad_types), bad_types)
    client = redis_client(stack)
    started = time.monotonic()
    client.lpush(QUEUE, b"\x00\xff this is not JSON")
    client.lpush(QUEUE, b'["json", "but", "no", "envelope"]')
    client.lpush(QUEUE, _with_body(template, [], {}, task="pushworker.no_such_task"))
    client.lpush(
        QUEUE,
        _with_body(
            template,
            [],
            {
                "owner_id": [1, 2],
                "visitor_id": {"x": 1},
                "goods_id": None,
                "goods_name": 5,
                "event_id": bad_types,
            },
        ),
    )
    next_event = visit(after)
    done_at = wait_finished([bad_types, next_event], timeout=20, what="(after garbage)")

    targets = {bad_types: PREFIX + owner, next_event: PREFIX + after}
    result = tally(
        stack,
        "garbage pushed onto the queue",
        targets,
        recovery_s=done_at - started,
        expect={bad_types: "failed"},
        dead_letters=DeadLetter.objects.count(),
    )
    row = rows([bad_types])[bad_types]
    assert (row.status, row.error_category) == ("failed", "bad_request"), row.error_reason
    assert "owner_id" in row.error_reason
    assert rows([next_event])[next_event].status == "sent"
    assert worker.process is not None and worker.process.poll() is None, "the worker died"
    assert worker.process.pid == pid
    assert DeadLetter.objects.count() >= 3, "the unreadable entries were not kept"
    assert sends_per_target(stack) == Counter({PREFIX + after: 1})
    return result


# -- the whole list, for the report --------------------------------------------------------------

SCENARIOS: list[tuple[str, Callable[..., Result], dict[str, Any]]] = [
    ("1", worker_killed, {}),
    ("2", pool_child_killed, {}),
    ("3", warm_shutdown, {}),
    ("4", redis_lost_queue, {}),
    ("5", redis_aof_survives, {}),
    ("6", redis_restart_idle, {}),
    ("7a", enqueue_burst_while_redis_down, {"mode": "refused"}),
    ("7b", enqueue_burst_while_redis_down, {"mode": "silent"}),
    ("7c", delay_on_commit_while_redis_down, {"mode": "refused"}),
    ("7d", delay_on_commit_while_redis_down, {"mode": "silent"}),
    ("8a", xiaomi_errors_then_success, {"kind": "http500"}),
    ("8b", xiaomi_errors_then_success, {"kind": "10002"}),
    ("8c", xiaomi_errors_then_success, {"kind": "10027"}),
    ("9a", xiaomi_no_answer, {"kind": "hang"}),
    ("9b", xiaomi_no_answer, {"kind": "reset"}),
    ("9c", xiaomi_no_answer, {"kind": "reset-after-accept"}),
    ("10", xiaomi_refusals, {}),
    ("11", same_event_twice, {}),
    ("12", poison_message, {}),
    ("13", garbage_on_the_queue, {}),
]
