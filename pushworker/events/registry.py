"""The registry of event kinds: every module of this package that defines a kind registers it.

Adding a kind is adding a module here: nothing else lists the kinds. The tasks, the routes, the
admin and the command line all read :func:`kinds`.
"""

from __future__ import annotations

import importlib
import pkgutil

from pushworker.events.base import Event, KindPolicy

_NOT_KINDS = {"base", "notification", "registry", "text", "validators"}
_kinds: dict[str, type[Event]] = {}
_loaded = False


def register(cls: type[Event]) -> type[Event]:
    """Class decorator: make ``cls`` a known kind (checked enough to fail at import, not later)."""
    if not isinstance(cls.policy, KindPolicy):
        raise TypeError(f"{cls.__name__}.policy must be a KindPolicy")
    for name in (cls.recipient, cls.subject):
        if name not in cls.arguments:
            raise TypeError(f"{cls.__name__}: {name!r} is not one of its arguments")
    if _kinds.get(cls.kind, cls) is not cls:
        raise TypeError(f"event kind {cls.kind!r} is registered twice")
    _kinds[cls.kind] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    import pushworker.events as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _NOT_KINDS and not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    _loaded = True


def kinds() -> dict[str, type[Event]]:
    """Every registered kind by name, in name order."""
    _load()
    return dict(sorted(_kinds.items()))


def get(kind: str) -> type[Event]:
    """The kind called ``kind``; ``KeyError`` naming it when there is none."""
    found = kinds().get(kind)
    if found is None:
        raise KeyError(f"unknown event kind {kind!r}")
    return found


def task_names() -> list[str]:
    return [k.task_name() for k in kinds().values()]
