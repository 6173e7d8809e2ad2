"""Fault scenarios 14a–14c: the daily summaries under a scheduler that runs twice, a worker killed
mid-summary and Redis restarted mid-run. Each gives one summary per recipient and day, and every
repeat the emulator accepted is flagged ``possible_duplicate``.

Each recipient chose goods visits in a ``daily_summary``; the rows their choice held back are
written directly (the summary path is the subject); their hour is made to come now. The workers'
beat runs the scheduler every second (``PUSHWORKER_SUMMARY_INTERVAL=1``).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import timedelta

from tests.faults.scenarios.common import (
    PREFIX,
    STALE_AFTER,
    VT,
    Result,
    add_devices,
    open_requests,
    owners,
    requests_answered,
    rows,
    sends_per_target,
    tally,
    wait_finished,
)
from tests.support.stack import Stack, wait_for

LATENCY_MS = 2000  # as in worker.py: a cut request is still accepted by the emulator
EVERY_SECOND = {"PUSHWORKER_SUMMARY_INTERVAL": "1"}


def summarizing(tag: str, count: int) -> dict[str, str]:
    """``count`` recipients who chose a daily summary, each with two visits held for it; their
    summary's event id -> their target. Their hour has not come yet (see :func:`their_hour`)."""
    from django.utils import timezone

    from pushworker import conf
    from pushworker.events.daily_summary import event_id_of
    from pushworker.store import preferences
    from pushworker.store.models import Delivery, Recipient

    who = owners(tag, count)
    add_devices(who)
    settings = conf.get()
    for owner in who:
        chosen = preferences.Choices(modes={"goods_visit": "daily_summary"})
        preferences.save(owner, settings.app(None), chosen, slot=settings.summary_slot)
    ended = timezone.now() - timedelta(minutes=1)
    Delivery.objects.bulk_create(
        Delivery(
            event_id=uuid.uuid4(),
            kind="goods_visit",
            app_name="qqc",
            recipient_id=owner,
            subject_id="g-9",
            payload={"visitor_id": f"v{n}", "goods_id": "g-9", "goods_name": "青花瓷碗"},
            status="suppressed",
            error_category="summary_pending",
            finished_at=ended,
        )
        for owner in who
        for n in range(2)
    )
    days = dict(Recipient.objects.filter(user_id__in=who).values_list("user_id", "summary_day"))
    return {event_id_of("qqc", owner, days[owner]): PREFIX + owner for owner in who}


def their_hour() -> None:
    """The recipients' summaries come due now."""
    from django.utils import timezone

    from pushworker.store.models import Recipient

    Recipient.objects.update(summary_due_at=timezone.now())


def check_one_summary_each(stack: Stack, result: Result, targets: dict[str, str]) -> None:
    """One summary row per recipient and day, all sent; each repeat Xiaomi took is flagged."""
    from pushworker.store.models import Delivery

    found, counts = rows(list(targets)), sends_per_target(stack)
    assert result.lost == 0 and result.sent == result.events, result
    assert Delivery.objects.filter(kind="daily_summary").count() == len(targets)
    repeated = {e for e, t in targets.items() if counts[t] > 1}
    flagged = {e for e, d in found.items() if d.possible_duplicate}
    assert repeated <= flagged, f"repeats not flagged: {sorted(repeated - flagged)}"
    texts = {m["fields"]["description"] for m in stack.emulator.messages()}
    assert texts == {"今天有 2 位用户浏览了您的 1 件商品"}, texts


def summaries_beat_twice(stack: Stack, *, count: int = 40, copies: int = 6) -> Result:
    """Two workers with a beat each, and the scheduler run ``copies`` times at once by hand (as
    beats that both believe they hold the lock would): one summary per recipient."""
    from pushworker.tasks import send_daily_summaries

    targets = summarizing("s1", count)
    stack.worker("w1", env=EVERY_SECOND)
    stack.worker("w2", env=EVERY_SECOND)
    their_hour()
    started = time.monotonic()
    for _ in range(copies):
        send_daily_summaries.apply_async()
    done_at = wait_finished(list(targets), timeout=60, what="with the scheduler run many times")
    result = tally(
        stack,
        "daily summaries, scheduler run twice and more",
        targets,
        recovery_s=done_at - started,
        copies=copies + 2,
    )
    check_one_summary_each(stack, result, targets)
    assert result.duplicated == 0, result  # no request was cut: nothing may repeat
    requests = stack.emulator.stats()["requests"]
    assert requests <= 2 * copies, f"{requests} requests for {count} summaries"
    return result


def summaries_worker_killed(stack: Stack, *, count: int = 40) -> Result:
    """SIGKILL the worker while a request of summaries is in flight, then restart it: the drain's
    batch reruns alone, each repeat flagged, and the scheduler makes no second summary."""
    targets = summarizing("s2", count)
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    worker = stack.worker("w1", env=EVERY_SECOND)
    their_hour()
    ids = list(targets)
    wait_for(lambda: open_requests(ids), 30, message="a request of summaries in flight")
    worker.kill_group()
    killed_at = time.monotonic()
    in_flight = open_requests(ids)
    with contextlib.suppress(AssertionError):  # soft, as in worker.py
        wait_for(lambda: requests_answered(stack), LATENCY_MS / 1000 + 5, message="answers")
    stack.emulator.set_faults(None)
    stack.worker("w1-restarted", env=EVERY_SECOND)
    done_at = wait_finished(ids, timeout=VT + 30, what="after the worker was killed")
    result = tally(
        stack,
        "daily summaries, SIGKILL worker mid-send",
        targets,
        recovery_s=done_at - killed_at,
        in_flight=len(in_flight),
    )
    assert in_flight, "the kill did not catch a request of summaries in flight"
    check_one_summary_each(stack, result, targets)
    assert {e for e, d in rows(ids).items() if d.possible_duplicate} <= in_flight
    return result


def summaries_redis_restarted(stack: Stack, *, count: int = 40) -> Result:
    """SIGKILL Redis (no persistence: queues, the beat lock and the backlog flag are gone) while
    summaries are being sent, and start it again: every summary is sent, once or flagged."""
    targets = summarizing("s3", count)
    stack.emulator.set_faults(latency_ms=LATENCY_MS)
    stack.worker("w1", env=EVERY_SECOND)
    their_hour()
    ids = list(targets)
    wait_for(lambda: open_requests(ids), 30, message="a request of summaries in flight")
    stack.redis.kill()
    stack.redis.start()
    restarted_at = time.monotonic()
    stack.emulator.set_faults(None)
    done_at = wait_finished(ids, timeout=STALE_AFTER + VT + 30, what="after Redis restarted")
    result = tally(
        stack,
        "daily summaries, Redis restarted mid-run",
        targets,
        recovery_s=done_at - restarted_at,
    )
    check_one_summary_each(stack, result, targets)
    return result
