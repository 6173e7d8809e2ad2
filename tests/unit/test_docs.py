"""The documentation cannot drift from the tree silently: docs/architecture.md's module map."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pushworker"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MODULE = re.compile(r"`([\w/]+\.py)`")


def modules_in_the_tree() -> set[str]:
    """Every module under pushworker/, as a path relative to it; migrations are generated."""
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def modules_in_the_map(text: str) -> set[str]:
    """The modules the first column of the module map's tables names."""
    section = text.split("\n## Module map\n", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            named.update(MODULE.findall(line.split("|")[1]))
    return named


def test_the_module_map_names_every_module_in_the_tree() -> None:
    missing = modules_in_the_tree() - modules_in_the_map(ARCHITECTURE.read_text(encoding="utf-8"))
    assert not missing, f"docs/architecture.md's module map lacks {sorted(missing)}"


def test_the_module_map_names_no_module_that_does_not_exist() -> None:
    named = modules_in_the_map(ARCHITECTURE.read_text(encoding="utf-8"))
    gone = named - modules_in_the_tree()
    assert not gone, f"docs/architecture.md's module map names {sorted(gone)}, not in pushworker/"


def test_the_map_is_read_from_its_tables_only() -> None:
    table = "| module | what |\n|---|---|\n| `a/b.py`, `c.py` | see `d.py` |\n"
    text = f"# A\n\n## Module map\n\n{table}\nSee `e.py`.\n\n## Next\n\n| `f.py` | x |\n"
    assert modules_in_the_map(text) == {"a/b.py", "c.py"}
