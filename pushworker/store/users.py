"""What pushworker reads of the host's users: a nickname from Django's user model.

:func:`from_user_model` is the default ``NICKNAME_RESOLVER`` (``pushworker.delivery.nicknames``
loads whichever resolver is configured).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model


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
