"""The demo's printed tables: the owners, deliveries per owner, requests per host, the timings."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pushworker.demo.outcome import Outcome
from pushworker.demo.scenario import Event, Owner
from pushworker.demo.tables import ms, percentile, table

STATUSES = ("sent", "partial", "suppressed", "failed", "dead", "unfinished")


def owners_listing(owners: dict[str, Owner]) -> str:
    lines = [f"  {o.user_id}  {o.platforms:<26} {o.describes}" for o in owners.values()]
    return "\n".join(["", "owners (user id, devices):", *lines, ""])


def deliveries_per_owner(events: list[Event], outcome: Outcome) -> str:
    """Final status, requests made to Xiaomi and broker retries, with the reasons for failures."""
    owners = list(dict.fromkeys(e.owner for e in events))
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for event in events:
        row = outcome.rows.get(event.event_id)
        key = event.owner.user_id
        status = outcome.statuses[event.event_id]
        counts[key][status] += 1
        counts[key]["events"] += 1
        if row:
            counts[key]["requests"] += row.attempts
            counts[key]["retried"] += 1 if row.retries else 0
            if row.status != "sent" and row.error_category:
                code = f"{row.error_code} " if row.error_code else ""
                reasons[key][f"{status}: {code}{row.error_reason}"] += 1
            if row.possible_duplicate:
                reasons[key][
                    "flagged possible duplicate (resent after a maybe-delivered error)"
                ] += 1
    columns = ["events", *STATUSES, "requests", "retried"]
    body = [
        [
            o.user_id,
            o.platforms,
            *(counts[o.user_id][c] for c in columns),
            "; ".join(f"{n}× {r}" for r, n in reasons[o.user_id].most_common()) or "-",
        ]
        for o in sorted(owners, key=lambda o: o.user_id)
    ]
    body.append(["total", "", *(sum(counts[o.user_id][c] for o in owners) for c in columns), ""])
    return "\n".join(
        [
            "",
            "deliveries per owner: final status, requests made to Xiaomi, broker retries",
            table(["owner", "devices", *columns, "notes"], body, left=(0, 1, len(columns) + 2)),
        ]
    )


def requests_per_host(outcome: Outcome) -> str:
    """Every request to the emulator by platform and host, with the errors it answered."""
    per_host: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    codes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for a in outcome.attempts:
        host = (a.platform, a.environment)
        per_host[host][a.status] += 1
        if a.status in ("failed", "unknown"):
            label = (
                str(a.error_code)
                if a.error_code
                else (f"HTTP {a.http_status}" if a.http_status else a.error_category or "?")
            )
            maybe = ", may have been delivered" if a.status == "unknown" else ""
            codes[host][f"{label} ({a.error_category}{maybe})"] += 1
    rows = [
        [
            f"{p} / {e}",
            sum(c.values()),
            c["sent"],
            c["failed"],
            c["unknown"],
            sum(n for status, n in c.items() if status not in ("sent", "failed", "unknown")),
            ", ".join(f"{n}× {label}" for label, n in sorted(codes[(p, e)].items())) or "-",
        ]
        for (p, e), c in sorted(per_host.items())
    ]
    headers = ["platform / host", "requests", "accepted", "refused", "unknown", "open", "errors"]
    return "\n".join(
        [
            "",
            "requests to Xiaomi (the emulator) by platform / host",
            table(headers, rows, left=(0, 6)),
        ]
    )


def timings(events: list[Event], outcome: Outcome) -> str:
    """Enqueue cost, delivery latency and enqueue-to-Xiaomi time: count, p50, p99, max."""
    costs = [e.enqueue_seconds for e in events]
    rest = costs[1:] or costs
    sent = [outcome.rows[e.event_id] for e in events if outcome.statuses[e.event_id] == "sent"]
    latency = [(d.finished_at - d.created_at).total_seconds() for d in sent if d.finished_at]
    to_xiaomi = [
        outcome.first_hit[e.event_id] - e.enqueued_at
        for e in events
        if e.event_id in outcome.first_hit
    ]
    rows = [
        _spread("enqueue cost per event: .delay() (outbox row + LPUSH)", rest),
        ["  first call (opens the broker connection)", 1, ms(costs[0]), "", ""],
        _spread("delivery latency: Delivery.finished_at - created_at (sent)", latency),
        _spread("enqueue -> first request accepted by the emulator", to_xiaomi),
    ]
    return "\n".join(["", "timings", table(["", "n", "p50", "p99", "max"], rows)])


def _spread(label: str, values: list[float]) -> list[Any]:
    return [
        label,
        len(values),
        ms(percentile(values, 50)),
        ms(percentile(values, 99)),
        ms(max(values)) if values else "-",
    ]
