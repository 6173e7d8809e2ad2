"""Issues 9 and 23's table: the rows issue 24's goals do not hold; the notes under both tables."""

from __future__ import annotations

from _goals import delay_row
from _goals import met as _met

LATENCIES = (20, 50, 200)  # the provider-latency sweep of bench/drain.py (ms)


def rows(f: dict, concurrency: int = 2) -> list[list[str]]:
    out = []
    naive = f["naive"]
    for key, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        if key not in f:
            continue
        d = f[key]
        ratio = d["rate"] / naive["rate"]
        out.append(
            [
                f"backlog drain, {name}, vs naive peer",
                f"{d['rate']:,.0f} events/s",
                f"naive task {naive['rate']:,.0f} events/s",
                f"{ratio:.2f}×",
                "≥ 2×",
                _met(ratio >= 2.0),
            ]
        )
    for s in f["stream"]["rows"]:
        if s["rate"] == 10:
            continue  # issue 24's low-load row
        out.append(
            [
                f"stream {s['rate']:,.0f} events/s (80 % of drain), SQLite: enqueue → accepted",
                f"p50 {s['p50'] * 1000:.1f} ms, p99 {s['p99'] * 1000:.1f} ms",
                f"produced {s['achieved']:,.1f}/s, {s['events']:,} events",
                "",
                "–",
                "",
            ]
        )
    ceiling = f["sqlite"]["rate"]
    for ms, d in zip(LATENCIES, f["sweep"], strict=True):
        pool = concurrency / (ms / 1000)
        bound = min(pool, ceiling)
        ratio = d["rate"] / bound
        out.append(
            [
                f"provider latency {ms} ms, SQLite ({d['finished']:,} events)",
                f"{d['rate']:,.0f} events/s, {d['requests_rate']:,.0f} requests/s",
                f"min({concurrency}/{ms} ms = {pool:,.0f}, CPU {ceiling:,.0f}) = {bound:,.0f}/s",
                f"{ratio:.2f}× (requests {d['requests_rate'] / pool:.2f}×)",
                "≥ 0.9×",
                _met(ratio >= 0.9),
            ]
        )
    for key, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        if key in f:
            d = f[key]
            out.append(
                [
                    f"worker CPU per event, {name}",
                    f"{d['cpu_ms_per_event']:.2f} ms",
                    f"naive task {naive['cpu_ms_per_event']:.2f} ms",
                    f"{d['cpu_ms_per_event'] / naive['cpu_ms_per_event']:.2f}×",
                    "≤ 1 ms",
                    _met(d["cpu_ms_per_event"] <= 1.0),
                ]
            )
    for key, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        if key in f:
            d = f[key]
            out.append(
                [
                    f"Xiaomi requests per event in a backlog, {name}",
                    f"{d['requests_per_event']:.3f}",
                    f"single sends: {d['phones'] / d['events']:.2f} (one per phone)",
                    f"{d['requests'] / d['phones']:.3f}×",
                    "≤ 0.05",
                    _met(d["requests_per_event"] <= 0.05),
                ]
            )
    d = f["sqlite"]
    growth = d["uss_done"] / d["uss_idle"] - 1
    out.append(
        [
            f"worker USS after {d['finished']:,} events, SQLite",
            f"{d['uss_done'] / 2**20:.1f} MiB",
            f"idle {d['uss_idle'] / 2**20:.1f} MiB (half-way {d['uss_warm'] / 2**20:.1f})",
            f"{growth:+.1%} ({d['uss_done'] / d['uss_warm'] - 1:+.1%})",
            "≤ +10 %",
            _met(growth <= 0.10),
        ]
    )
    for e in f["enqueue"].values():
        database = e["database"].split(" (")[0]
        # The asynchronous commit, measured on PostgreSQL only, back to back and paced; the
        # default (outbox on, durable commit) is issue 24's row.
        for how, d in (("back to back", e), ("paced", e["paced"])):
            stock = d["apply_async"]
            if "asynchronous" in d:
                label = f"`.delay()` (ENQUEUE_COMMIT=async), {database}, {how}"
                out.append(delay_row(label, d["asynchronous"], stock))
    return out


def details(f: dict) -> list[str]:
    """What the table leaves out: wall times that include start-up, pre-fill, early finishes."""
    n = f["naive"]
    out = [
        f"naive peer: {n['done']:,} events, {n['rate']:,.0f}/s first start → last finish, "
        f"{n['wall_rate']:,.0f}/s from giving the queue back, "
        f"{n['events'] / n['startup_wall']:,.0f}/s including its worker's start-up "
        f"({n['startup_wall']:.1f} s)"
    ]
    for key in ("sqlite", "pg"):
        if key in f:
            d = f[key]
            out.append(
                f"{d['database']}: drain {d['wall_rate']:,.0f}/s from giving the queue back "
                f"(worker ready in {d['ready_s']:.1f} s, not counted); pre-fill of "
                f"{d['events']:,} .delay() {d['fill_s']:.1f} s; {d['messages']:,} messages for "
                f"{d['phones']:,} phones; finished before the queue came back: {d['early']}; "
                f"statuses {d['statuses']}"
            )
    for d in f["sweep"]:
        out.append(
            f"latency {d['latency_ms']:g} ms: {d['finished']:,}/{d['events']:,} events finished, "
            f"drained for {d['wall']:.0f} s (cap {d['cap']:g}), "
            f"{d['requests_per_event']:.3f} requests/event"
        )
    out.append(
        f"urgent, blip and outage rows: {f['urgent']['database']}, the worker with embedded "
        "beat (-B), as a host runs it; the outage's requests counted from attempt rows"
    )
    c = f["copies"]
    if c["installed"]:
        inside = "; ".join(c["inside"]) or "none"
        out.append(f"`duplicates` pairs in the delivery path: {inside}")
    return out
