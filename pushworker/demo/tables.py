"""Plain-text figures for the demo's report and the benchmarks: percentiles, durations, tables."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def ms(seconds: float, digits: int = 1, *, unit: bool = True) -> str:
    """A duration for a table cell: ``12.3 ms`` (``2.5 s`` from 10 s up); ``unit=False``: the
    number of milliseconds alone (for a column headed "ms"), ``digits`` decimals below 10 ms."""
    if seconds != seconds:  # NaN
        return "-"
    if not unit:
        value = seconds * 1000
        return f"{value:.{digits}f}" if value < 10 else f"{value:.1f}"
    return f"{seconds * 1000:.{digits}f} ms" if seconds < 10 else f"{seconds:.1f} s"


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    left: tuple[int, ...] = (0,),
    indent: str = "  ",
) -> str:
    """Plain-text columns; numbers right-aligned, the ``left`` columns left-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            c + " " * (w - _width(c)) if i in left else " " * (w - _width(c)) + c
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return indent + "  ".join(parts).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
