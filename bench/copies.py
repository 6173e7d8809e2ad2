"""Copies of send, record and policy logic: `duplicates` pairs within the delivery path.

Usage: python bench/copies.py

Runs ``duplicates --repo pushworker --min-lines 4 --most 200`` from the repository's root (the
command is on PATH where the developers have it; see its README) and counts the pairs whose two
sides both lie in ``pushworker/delivery/`` or ``pushworker/store/``: issue 24's "copies of
send/record/policy logic", goal 0. Without the command the row says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT  # noqa: E402
from _stack import result  # noqa: E402

COMMAND = ["duplicates", "--repo", "pushworker", "--min-lines", "4", "--most", "200"]
WHAT = "copies of send/record/policy logic (`duplicates pushworker`, 4 lines)"
PATH = ("delivery/", "store/")  # the delivery path, relative to pushworker/
PAIR = re.compile(r"^D\d+ (\S+?):\d+-\d+ ~ (\S+?):\d+-\d+")


def measure() -> dict:
    if shutil.which(COMMAND[0]) is None:
        return {"installed": False, "what": WHAT}
    out = subprocess.run(COMMAND, capture_output=True, text=True, timeout=120, cwd=ROOT).stdout
    pairs = [(m.groups(), line) for line in out.splitlines() if (m := PAIR.match(line))]
    inside = [line for sides, line in pairs if all(side.startswith(PATH) for side in sides)]
    return {
        "installed": True,
        "what": WHAT,
        "all": len(pairs),
        "pairs": len(inside),
        "inside": inside,  # the rows as printed: places, and "shape" or "boilerplate" if so
        "cut": "more pairs)" in out,  # --most 200 left some out
    }


def main() -> int:
    found = measure()
    if not found["installed"]:
        print("duplicates not installed")
    else:
        print(f"{found['pairs']} of {found['all']} pairs lie in the delivery path")
        for pair in found["inside"]:
            print(f"  {pair}")
    result(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
