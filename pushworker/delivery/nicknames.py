"""Visitor nickname resolvers: turn a visitor id into the name the owner sees.

A resolver is any callable ``(visitor_id: str) -> str | None``, named by its dotted path in
``PUSHWORKER_NICKNAME_RESOLVER``. ``None`` means unknown; the caller then shows a neutral word.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

Resolver = Callable[[str], "str | None"]


def from_user_model(visitor_id: str) -> str | None:
    """The visitor's ``nickname`` (or full name, or username) from Django's user model."""
    model = get_user_model()
    try:
        user = model._default_manager.filter(pk=visitor_id).first()
    except (ValueError, TypeError):  # a non-numeric id against an integer primary key
        return None
    if user is None:
        return None
    for candidate in (
        getattr(user, "nickname", ""),
        user.get_full_name() if hasattr(user, "get_full_name") else "",
        user.get_username(),
    ):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    return None


@lru_cache(maxsize=8)
def load(path: str) -> Resolver:
    """The resolver at ``path``; an import error names the setting."""
    try:
        return import_string(path)
    except ImportError as error:
        raise ImportError(
            f"PUSHWORKER_NICKNAME_RESOLVER={path!r} cannot be imported: {error}"
        ) from error
