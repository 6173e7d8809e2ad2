"""Issue 24's goals table: each of its rows, in its order, measured in one `make bench` run."""

from __future__ import annotations

from collections.abc import Callable

DATABASES = (("sqlite", "SQLite"), ("pg", "PostgreSQL"))
HEADERS = ["measure", "result", "baseline (same run)", "ratio", "goal", "met"]


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _drains(f: dict) -> list[list[str]]:
    out = []
    naive = f["naive"]
    goals: dict[str, tuple[str, Callable[[float, float], bool]]] = {
        "sqlite": (
            "≥ 3× on a quiet machine, worker CPU ≤ 0.3 ms per event",
            lambda ratio, cpu: ratio >= 3.0 and cpu <= 0.3,
        ),
        "pg": ("≥ 2×", lambda ratio, cpu: ratio >= 2.0),
    }
    for key, name in DATABASES:
        if key not in f:
            continue
        d = f[key]
        ratio, cpu = d["rate"] / d["loop_rate"], d["cpu_ms_per_event"]
        goal, ok = goals[key]
        out.append(
            [
                f"backlog drain vs single-send client loop, {name} "
                f"({d['finished']:,}/{d['events']:,} events)",
                f"{d['rate']:,.0f} events/s; worker CPU {cpu:.2f} ms/event",
                f"client loop {d['loop_rate']:,.0f} sends/s; naive task {naive['rate']:,.0f} "
                f"events/s, CPU {naive['cpu_ms_per_event']:.2f} ms/event",
                f"{ratio:.2f}×",
                goal,
                met(ok(ratio, cpu)),
            ]
        )
    return out


def _urgent(u: dict) -> list[str]:
    return [
        f"urgent event during a {u['events']:,}-event bulk backlog, enqueue → sent "
        f"({u['urgent']} order shipped, one every {u['every']:g} s, one node)",
        f"p50 {u['p50']:.2f} s, max {u['max']:.2f} s ({u['statuses']})",
        f"{u['ahead']:,} goods visits ahead of the first; {u['bulk_done']:,} drained by the last",
        "",
        "max ≤ 1 s",
        met(u["complete"] and u["max"] <= 1.0),
    ]


def _blip(b: dict) -> list[str]:
    rpe = b["requests_per_event"]
    return [
        f"{b['blip_s']:g} s of HTTP 503 during a {b['events']:,}-event backlog, Xiaomi answering "
        f"in {b['latency_ms']:g} ms: all sent after the blip",
        f"{b['after_s']:.1f} s after it ends; {rpe:.3f} requests per event ({b['statuses']})",
        f"{b['left']:,} events left at its end; {b['requests']:,} requests {b['by_outcome']}",
        "",
        "≤ 20 s after the blip ends, ≤ 0.1 requests per event over the drain",
        met(b["complete"] and b["after_s"] <= 20 and rpe <= 0.1),
    ]


def _outages(o: dict) -> list[list[str]]:
    out = []
    for r in o["rows"]:
        how = "refused connections" if r["mode"] == "refused" else "HTTP 503"
        length = f"{r['outage_s']:.0f} s"
        scaled = "" if r["outage_s"] >= o["full"] else "; 10 min in `make faults-report-full`"
        after = r["after_s"]
        ok = r["not_sent"] == 0 and after is not None and after <= 60 and r["requests_per_s"] <= 2
        out.append(
            [
                f"Xiaomi down ({how}) during a {r['rate']:g} events/s stream "
                f"({length} outage{scaled})",
                f"{r['not_sent']} of {r['events']} not sent {r['statuses']}; all sent "
                f"{'never' if after is None else f'{after:.1f} s'} after it ends; "
                f"{r['requests_per_s']:.2f} requests/s during it",
                f"{r['requests']} requests in {length}",
                "",
                "0 dead or failed; all sent ≤ 60 s after it ends; ≤ 2 requests/s during it",
                met(ok),
            ]
        )
    return out


def delay_row(label: str, mine: dict, stock: dict) -> list[str]:
    """A ``.delay()`` row: its p50 and p99 beside stock ``apply_async``'s, measured alike."""
    ratio, p99 = mine["p50"] / stock["p50"], mine["p99"] * 1000
    return [
        label,
        f"p50 {mine['p50'] * 1000:.3f} ms, p99 {p99:.3f} ms; CPU "
        f"{mine['cpu'] * 1000:.2f} ms/call (caller {mine['caller_cpu'] * 1000:.2f})",
        f"apply_async p50 {stock['p50'] * 1000:.3f} ms, p99 "
        f"{stock['p99'] * 1000:.3f} ms; CPU {stock['cpu'] * 1000:.2f} ms/call",
        f"{ratio:.2f}× (p99 {mine['p99'] / stock['p99']:.2f}×)",
        "≤ 1.5× both, p99 ≤ 2 ms",
        met(ratio <= 1.5 and p99 <= 2.0),
    ]


def _delays(f: dict) -> list[list[str]]:
    out = []
    for e in f["enqueue"].values():
        database = e["database"].split(" (")[0]
        # Back to back (a batch script) and paced (a web thread between requests), the outbox on.
        for how, d in (("back to back", e), ("paced", e["paced"])):
            label = f"`.delay()` p50 vs stock `apply_async`, {database}, a message per event, {how}"
            out.append(delay_row(label, d["always"], d["apply_async"]))
    return out


def _stream(f: dict) -> list[list[str]]:
    return [
        [
            "low-load stream 10/s, enqueue → accepted, SQLite",
            f"p50 {s['p50'] * 1000:.1f} ms, p99 {s['p99'] * 1000:.1f} ms",
            f"produced {s['achieved']:,.1f}/s, {s['events']:,} events {s['statuses']}",
            "",
            "p99 ≤ 30 ms",
            met(s["p99"] <= 0.03),
        ]
        for s in f["stream"]["rows"]
        if s["rate"] == 10
    ]


def _copies(c: dict) -> list[str]:
    if not c["installed"]:
        return [c["what"], "duplicates not installed", "", "", "0", ""]
    return [
        c["what"],
        f"{c['pairs']} pairs in the delivery path (delivery/, store/)",
        f"{c['all']} pairs in pushworker/ in all",
        "",
        "0",
        met(c["pairs"] == 0),
    ]


def rows(f: dict) -> list[list[str]]:
    """The table's rows, in the issue's order; a part the run left out is left out."""
    out = _drains(f)
    out.append(_urgent(f["urgent"]))
    out.append(_blip(f["blip"]))
    out += _outages(f["outage"])
    out += _delays(f)
    out += _stream(f)
    out.append(_copies(f["copies"]))
    return out
