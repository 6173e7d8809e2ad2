"""Parse every line of log files as JSON: how many lines, and the ones that are not one object.

``python -m tests.support.jsonlines FILE...`` prints a line per file and exits 1 when any line is
not a JSON object; the integration test of a real run (tests/integration/test_json_logs.py) calls
:func:`read` on the worker's, beat's, web's and emulator's logs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Log:
    """One process's log: its objects, in order, and the lines that are not a JSON object."""

    name: str
    objects: list[dict] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return len(self.objects) + len(self.bad)

    def where(self, **fields: object) -> list[dict]:
        """The objects whose fields have these values."""
        return [o for o in self.objects if all(o.get(k) == v for k, v in fields.items())]

    def summary(self) -> str:
        return f"{self.name}: {self.lines} lines, {len(self.bad)} not JSON"


def read(path: Path, name: str | None = None) -> Log:
    """Every line of ``path`` (blank lines count as not JSON: a real line is never blank)."""
    found = Log(name or path.name)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict):
            found.objects.append(value)
        else:
            found.bad.append(line)
    return found


def main(paths: list[str]) -> int:
    logs = [read(Path(p)) for p in paths]
    for log in logs:
        print(log.summary())
        for line in log.bad[:5]:
            print(f"  not JSON: {line[:200]}")
    return 1 if any(log.bad for log in logs) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
