"""Fault scenarios 8–10: Xiaomi errs, never answers or refuses."""

from __future__ import annotations

import time
from contextlib import nullcontext

from tests.faults.scenarios.common import (
    PREFIX,
    READ_TIMEOUT,
    VT,
    Result,
    add_devices,
    check_request_bound,
    response_proxy,
    rows,
    sends_per_target,
    settled,
    tally,
    visit,
    wait_finished,
)
from tests.support.stack import Stack, wait_for

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

    from pushworker.store.models import DeliveryAttempt

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
    # A retry, if one were scheduled, would be a message in Redis (or held by the worker).
    wait_for(lambda: settled(stack), 20, message="no message and no request left")

    from pushworker.store.models import PushDevice

    found = rows(list(events))
    targets = {e: PREFIX + found[e].recipient_id for e in events}
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
