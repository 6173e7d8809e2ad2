"""Redis Sentinel (issue #12): the master is SIGKILLed while events are enqueued and sent.

A master, a replica and three sentinels (tests/support/sentinel.py); two real ``celery worker``
processes and this process's ``send_goods_visit.delay()`` (the web side) reach them only through
``sentinel://`` URLs. The replica is held back when the master dies, so the failover drops the
master's last writes, events among them. After the kill, the producer and both workers must follow
the promoted replica, every event must be sent (the outbox and the sweeper cover what was dropped),
and a repeated send is allowed only for an event whose send had started before the kill, flagged
``possible_duplicate``. Recovery times are measured and printed, never asserted.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.faults.scenarios import common as scenarios
from tests.support.sentinel import MASTER_NAME, SentinelCluster
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.slow

STREAM = 120  # events enqueued one every 50 ms, through the kill and past the recovery
LATENCY_MS = 300  # Xiaomi's answer time, so some sends are in flight when the master dies
# How Celery names the transport it connected.
HARDENED = "pushworker.broker.transport:SentinelTransport"


@contextmanager
def producer_on(env: dict[str, str]) -> Iterator[None]:
    """This process's Celery app publishes with the broker settings ``env`` gives the service."""
    from kombu import pools

    from pushworker import conf
    from pushworker.broker import celeryconfig
    from pushworker.broker import install as integration
    from pushworker.celery import app

    url, transport, options = celeryconfig.broker_settings(env)
    keys = ("broker_url", "broker_transport", "broker_transport_options")
    saved = {key: app.conf[key] for key in keys}

    def switch(values: dict) -> None:
        if app._pool is not None:  # Celery keeps pooled connections to the configured broker
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        # kombu's own registry keeps a producer pool per broker URL over the pool just closed:
        # the later tests' first publish would find it closed ("Acquire on closed pool") and
        # every event of theirs would go through the outbox relay instead of its own message.
        pools.reset()
        app.conf.update(values)

    switch(
        dict(
            zip(
                keys,
                (url, transport, integration.transport_options(conf.get(), options)),
                strict=True,
            )
        )
    )
    try:
        yield
    finally:
        switch(saved)


def test_producer_and_workers_follow_the_new_master_and_nothing_is_lost(clean_stack, tmp_path):
    cluster = SentinelCluster(tmp_path / "sentinel", secrets.token_urlsafe(12))
    try:
        cluster.start()
        env = {"PUSHWORKER_BROKER_URL": cluster.url, "PUSHWORKER_BROKER_MASTER_NAME": MASTER_NAME}
        with producer_on(env):
            result = failover(clean_stack, cluster, env)
    finally:
        for worker in clean_stack.workers:
            worker.terminate(timeout=20)
        clean_stack.workers.clear()
        cluster.stop()
    print(f"\nsentinel failover: {result}")


def failover(stack: Stack, cluster: SentinelCluster, env: dict[str, str]) -> scenarios.Result:
    from django.db import connections
    from django.utils import timezone

    from pushworker.store.models import DeadLetter, DeliveryAttempt

    who = scenarios.owners("s1", STREAM + 200)
    scenarios.add_devices(who)
    owners = iter(who)
    targets: dict[str, str] = {}
    kept: set[str] = set()  # events the broker did not take at once: left to the outbox relay

    def visit() -> str:
        owner = next(owners)
        event_id = scenarios.visit(owner)
        targets[event_id] = scenarios.PREFIX + owner
        scenarios.published()  # the publish follows the call on a publisher thread
        if not scenarios.rows([event_id])[event_id].published_at:
            kept.add(event_id)
        return event_id

    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    workers = [stack.worker("w1", env=env), stack.worker("w2", env=env, beat=False)]
    scenarios.wait_finished([visit()], timeout=30, what="(warm-up through sentinel)")

    stream: list[str] = []

    def produce() -> None:
        try:
            for _ in range(STREAM):
                stream.append(visit())
                time.sleep(0.05)  # the producer's pace, not a wait for a condition
        finally:
            connections.close_all()

    producer = threading.Thread(target=produce, name="stream")
    producer.start()

    def sending_after_some_sent() -> bool:
        found = scenarios.rows(list(stream))
        return sum(d.status == "sent" for d in found.values()) >= 10 and bool(
            scenarios.open_requests(list(stream))
        )

    wait_for(sending_after_some_sent, 60, message="10 events sent and a send in flight")
    offsets = [w.log_path.stat().st_size for w in workers]
    # Kill the master while the replica lags behind it: the writes after the flood (pushes of new
    # events, pops and acks of sent ones) reach only the master and die with it.
    cluster.hold_replica()
    try:
        flooded_at = cluster.flood()
        first = len(stream) + 1  # the event being published now may have been written before
        wait_for(
            lambda: len(stream) >= first + 2,
            10,
            interval=0.01,
            message="events published after the flood",
        )
        last = len(stream)
        killed_wall = timezone.now()
        cluster.kill_master()
        killed_at = time.monotonic()
    finally:
        cluster.release_replica()
    dropped = [e for e in stream[first:last] if e not in kept]

    wait_for(
        lambda: cluster.master_port_now() == cluster.replica_port,
        60,
        interval=0.05,
        message="the sentinels to promote the replica",
    )
    promoted_s = time.monotonic() - killed_at

    # The producer follows when a delay() after the promotion goes straight to the new master.
    def published_directly() -> str | None:
        event_id = visit()
        return None if event_id in kept else event_id

    canary = str(wait_for(published_directly, 60, interval=0.25, message="a direct publish"))
    producer_s = time.monotonic() - killed_at
    # A worker follows when that event, only ever on the new master, is sent.
    scenarios.wait_finished([canary], timeout=60, what="(canary on the new master)")
    worker_s = time.monotonic() - killed_at
    producer.join(timeout=120)
    assert not producer.is_alive(), "the producer thread did not finish"

    ids = list(targets)
    done_at = scenarios.wait_finished(
        ids, timeout=scenarios.STALE_AFTER + scenarios.VT + 60, what="after the failover"
    )
    result = scenarios.tally(
        stack,
        "SIGKILL the Redis master under Sentinel",
        targets,
        recovery_s=done_at - killed_at,
        promoted_s=round(promoted_s, 2),
        producer_s=round(producer_s, 2),
        worker_s=round(worker_s, 2),
        via_outbox=len(kept),
        dropped_by_failover=len(dropped),
    )

    counts = scenarios.sends_per_target(stack)
    found = scenarios.rows(ids)
    duplicated = {e for e, t in targets.items() if counts[t] > 1}
    flagged = {e for e, d in found.items() if d.possible_duplicate}
    started_before_kill = {
        str(e)
        for e in DeliveryAttempt.objects.filter(
            delivery__event_id__in=ids, started_at__lte=killed_wall
        ).values_list("delivery__event_id", flat=True)
    }
    assert cluster.promoted_offset() < flooded_at, "the replica got the writes after the flood"
    assert dropped, "no event was published in the window the failover dropped"
    assert result.lost == 0 and result.sent == len(ids), f"not all sent: {result}"
    assert duplicated <= flagged, f"repeated sends not flagged: {duplicated - flagged}"
    assert duplicated <= started_before_kill, f"repeats of sends begun after the kill: {duplicated}"
    assert all(w.process and w.process.poll() is None for w in workers), "a worker died"
    for worker, offset in zip(workers, offsets, strict=True):
        after = worker.log_path.read_bytes()[offset:].decode(errors="replace")
        # Each worker lost its connection to the master and connected again through the sentinels,
        # on the hardened transport: kombu's switch to an alternate URL would bring the stock one.
        assert "Connection to broker lost" in after, f"{worker.name} never lost the master"
        assert f"Connected to {HARDENED}://" in after, f"{worker.name} did not reconnect:\n{after}"
        assert "Connected to sentinel://" not in after, f"{worker.name} lost the hardening"
        assert cluster.password not in worker.log(), f"{worker.name} logged the Redis password"

    # And the hardening holds on the new master: garbage is dead-lettered, the next event is sent.
    letters = DeadLetter.objects.count()
    cluster.server(cluster.replica_port).lpush(scenarios.QUEUE, b"\x00 not a message")
    wait_for(lambda: DeadLetter.objects.count() > letters, 30, message="the garbage dead-lettered")
    scenarios.wait_finished([visit()], timeout=30, what="(after garbage on the new master)")
    assert all(w.process and w.process.poll() is None for w in workers), "garbage stopped a worker"
    return result
