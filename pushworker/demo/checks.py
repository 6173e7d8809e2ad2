"""The demo's verdict: each event's actual state and requests against what the scenario expects."""

from __future__ import annotations

from collections import Counter

from pushworker.demo.outcome import Outcome
from pushworker.demo.scenario import INJECTED_FAULTS, Event


def check(events: list[Event], outcome: Outcome) -> tuple[list[str], str]:
    """The problems found (none when all is well) and the printed summary of the checks."""
    wrong = _wrong_events(events, outcome)
    problems = list(wrong)
    matched = len(events) - len({w.split()[1] for w in wrong if w.startswith("event #")})
    lines = [
        "",
        "checks",
        f"  {'ok  ' if not wrong else 'FAIL'} {matched}/{len(events)} events in their expected "
        "state, each sent event accepted once per expected platform/host "
        f"({len(outcome.received)} messages)",
    ]
    flaky_events = [e for e in events if e.owner.flaky]
    if flaky_events:
        left = outcome.faults_left
        flaky_requests = sum(
            outcome.rows[e.event_id].attempts for e in flaky_events if e.event_id in outcome.rows
        )
        expected_requests = len(flaky_events) + len(INJECTED_FAULTS)
        if left:
            problems.append(f"injected faults not used: {list(left)}")
        if flaky_requests != expected_requests:
            problems.append(
                f"flaky owner: {flaky_requests} requests for {len(flaky_events)} events, "
                f"expected {expected_requests} (one per injected fault)"
            )
        ok = not left and flaky_requests == expected_requests
        lines.append(
            f"  {'ok  ' if ok else 'FAIL'} injected transient failures "
            f"({', '.join(INJECTED_FAULTS)}) were retried: {flaky_requests} requests for "
            f"{len(flaky_events)} event(s) of owner {flaky_events[0].owner.user_id}"
        )
    return problems, "\n".join(lines)


def _wrong_events(events: list[Event], outcome: Outcome) -> list[str]:
    """Events not in their expected state, or accepted by the emulator other than once per host."""
    wrong = []
    for event in events:
        row = outcome.rows.get(event.event_id)
        actual = row.status if row else "(no delivery row)"
        if actual != event.expected:
            reason = (
                f", {row.error_category}: {row.error_reason}" if row and row.error_reason else ""
            )
            wrong.append(
                f"event #{event.n} {event.event_id} owner {event.owner.user_id} "
                f"({event.owner.platforms}): expected {event.expected}, got {actual}{reason}"
            )
        got = outcome.accepted.get(event.event_id, Counter())
        if event.expected == "sent" and actual == "sent" and got != event.owner.units():
            wrong.append(
                f"event #{event.n} {event.event_id}: emulator accepted {dict(got)}, "
                f"expected one request each to {dict(event.owner.units())}"
            )
        elif event.expected != "sent" and got:
            wrong.append(
                f"event #{event.n} {event.event_id}: expected {event.expected} but "
                f"the emulator accepted {dict(got)}"
            )
    received = len(outcome.received)
    expected_messages = sum(sum(e.owner.units().values()) for e in events if e.expected == "sent")
    if received != expected_messages:
        wrong.append(
            f"the emulator accepted {received} messages, expected {expected_messages}"
            " (one per sent event and platform/host)"
        )
    return wrong
