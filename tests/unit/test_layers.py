"""The folder tree is the architecture: each package imports only the layers below it, and what
a layer must not import (Celery, Django, HTTP) it does not import through anything it imports.

docs/architecture.md draws the same layers; this is the check that keeps the drawing true.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pushworker"

# Bottom first. A package may import its own modules and those of lower ranks only; two packages
# of one rank are independent of each other.
RANKS = {
    "mipush": 0,  # the Xiaomi client: the standard library and httpx
    "emulator": 0,  # the local Xiaomi: knows nothing of pushworker, so it cannot mirror its bugs
    "events": 1,
    "conf": 2,  # knows the kinds (their lifetimes are settings)
    "ops": 3,
    "store": 4,
    "broker": 5,
    "delivery": 6,
    "producer": 6,
    "tasks": 7,
    "celery": 7,
    "web": 8,
    # The edges that start things: the demo, Django's entry points, and the command line.
    "demo": 9,
    "management": 9,
    "apps": 9,
    "urls": 9,
    "settings": 9,
    "templatetags": 9,
    "cli": 10,
}
# Documented old paths, kept as re-exports for host projects; nothing inside pushworker uses them.
SHIMS = {"integration", "beatlock", "logs", "reporting", "nicknames", "models", "api"}
# Layers that run inside web processes or decide deliveries: no Celery or kombu anywhere below.
CELERY_FREE = ("conf", "events", "ops", "store", "delivery", "producer")
# The kinds are pure: they say what an event is and what its notification says.
PURE = ("events",)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def path_of(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


@cache
def direct_imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports anywhere in it (function-level too), made absolute; for
    ``from package import name``, the submodule when ``name`` is one."""
    path = path_of(module)
    if path is None:
        return frozenset()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found.update(
                f"{base}.{alias.name}" for alias in node.names if path_of(f"{base}.{alias.name}")
            )
    # Importing a submodule runs its packages' __init__ modules too.
    for name in list(found):
        parts = name.split(".")
        found.update(".".join(parts[:n]) for n in range(1, len(parts)))
    return frozenset(found)


@cache
def reachable(module: str) -> frozenset[str]:
    """Every module imported by ``module`` or by anything it imports, transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for imported in direct_imports(todo.pop()):
            if imported not in seen:
                seen.add(imported)
                if imported.startswith("pushworker"):
                    todo.append(imported)
    return frozenset(seen)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def modules() -> list[str]:
    return sorted(
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.relative_to(ROOT).parts
    )


def roots(names: frozenset[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_every_module_belongs_to_a_ranked_layer_or_is_a_shim() -> None:
    unknown = {layer(m) for m in modules() if m != "pushworker"} - set(RANKS) - SHIMS
    assert not unknown, f"packages with no rank in this test and docs/architecture.md: {unknown}"


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) in RANKS])
def test_a_module_imports_only_its_own_layer_and_the_layers_below(module: str) -> None:
    mine = layer(module)
    wrong = {
        imported
        for imported in direct_imports(module)
        if imported.startswith("pushworker.")
        and layer(imported) != mine
        and (layer(imported) in SHIMS or RANKS.get(layer(imported), 99) >= RANKS[mine])
    }
    assert not wrong, f"{module} (rank {RANKS[mine]}) imports {sorted(wrong)}"


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) in CELERY_FREE])
def test_nothing_below_the_web_side_and_the_engine_imports_celery_even_indirectly(
    module: str,
) -> None:
    found = roots(reachable(module)) & {"celery", "kombu"}
    via = sorted(
        m
        for m in reachable(module) | {module}
        if m.startswith("pushworker") and roots(direct_imports(m)) & {"celery", "kombu"}
    )
    assert not found, f"{module} reaches Celery through {via}"


@pytest.mark.parametrize("module", [m for m in modules() if layer(m) in PURE])
def test_the_kinds_are_pure_even_indirectly(module: str) -> None:
    found = roots(reachable(module)) & {"django", "httpx", "aiohttp", "redis"}
    assert not found, f"{module} reaches {found}"


def test_the_client_and_the_emulator_import_nothing_of_pushworker_beyond_themselves() -> None:
    for module in modules():
        if layer(module) in ("mipush", "emulator"):
            outside = {m for m in reachable(module) if m.startswith("pushworker.")}
            outside = {m for m in outside if layer(m) != layer(module)}
            assert not outside, f"{module} reaches {outside}"


def test_the_shims_are_only_doors_for_host_projects() -> None:
    for module in modules():
        if layer(module) in RANKS:
            used = {m for m in direct_imports(module) if layer(m) in SHIMS and m.count(".")}
            assert not used, f"{module} imports the old paths {used}"


def test_the_checker_sees_an_indirect_import() -> None:
    # producer.backlog reaches broker.queues, which reaches the kinds' registry.
    assert "pushworker.events.registry" in reachable("pushworker.producer.backlog")
