"""Visitor nicknames: the name a notification shows for the person an event is about.

A resolver is any callable ``(visitor_id: str) -> str | None``, named by its dotted path in
``PUSHWORKER_NICKNAME_RESOLVER`` (default: ``pushworker.store.users.from_user_model``). ``None``
means unknown; the notification then shows ``UNKNOWN_VISITOR_NAME``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.utils.module_loading import import_string

from pushworker.events import notification
from pushworker.events.base import Event

Resolver = Callable[[str], "str | None"]


@lru_cache(maxsize=8)
def load(path: str) -> Resolver:
    """The resolver at ``path``; an import error names the setting."""
    try:
        return import_string(path)
    except ImportError as error:
        raise ImportError(
            f"PUSHWORKER_NICKNAME_RESOLVER={path!r} cannot be imported: {error}"
        ) from error


def of(event: Event, settings: Any) -> str | None:
    """The name the recipient reads for the person ``event`` names (its kind's ``nickname_of``):
    given with the event, looked up, or the app's anonymous or unknown name; None for a kind that
    names nobody."""
    if event.nickname_of is None:
        return None
    user_argument, name_argument = event.nickname_of
    given, user_id = getattr(event, name_argument), getattr(event, user_argument)
    # A name that cleans to nothing (only control characters) would show as "【】".
    if given and notification.clean(given):
        return given
    if user_id is None:
        return settings.app(event.app_name).anonymous_nickname
    name = load(settings.nickname_resolver)(user_id)
    return name if name and notification.clean(name) else settings.unknown_visitor_name
