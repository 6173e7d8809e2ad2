"""Shared argument checks for every event kind: ids, names, the event id and the app name.

Each check takes the argument's name and value and returns the clean value or raises
:class:`InvalidEventError` naming the argument (and the task, once the kind is known).
"""

from __future__ import annotations

import uuid
from typing import Any

from pushworker.events import text as text_

MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 1024  # far above what fits a notification; the cap keeps broker messages small
MAX_SHORT_NAME_LENGTH = 255
MAX_APP_NAME_LENGTH = 64


class InvalidEventError(ValueError):
    """An argument of an event's task is unusable; the message names the task and the argument."""

    def __init__(self, argument: str, problem: str, task: str = "an event") -> None:
        super().__init__(f"{task}: {argument} {problem}")
        self.argument = argument
        self.problem = problem
        self.task = task

    def __reduce__(self):  # rebuild from the fields, not from the formatted message
        return (type(self), (self.argument, self.problem, self.task))


def identifier(argument: str, value: Any) -> str:
    """A user, goods or order id: an int or a short str, kept exactly (never cleaned)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidEventError(argument, f"must be an int or a str, got {type(value).__name__}")
    value_ = str(value).strip()
    if not value_:
        raise InvalidEventError(argument, "must not be empty")
    if len(value_) > MAX_ID_LENGTH:
        raise InvalidEventError(
            argument, f"must be at most {MAX_ID_LENGTH} characters, got {len(value_)}"
        )
    if text_.has_unsafe(value_):
        # An id is a key, not prose: cleaning it would silently address someone else.
        raise InvalidEventError(argument, "must not contain control characters")
    return value_


def optional_identifier(argument: str, value: Any) -> str | None:
    return None if value is None else identifier(argument, value)


def name(
    argument: str, value: Any, *, optional: bool = False, max_length: int = MAX_NAME_LENGTH
) -> str | None:
    """User-written text: cleaned here, once, so the records, the notification and the logs all
    hold the same text (NUL, controls, bidi overrides and lone surrogates never get further)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidEventError(argument, f"must be a str, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidEventError(
            argument, f"must be at most {max_length} characters, got {len(value)}"
        )
    cleaned = text_.clean(value)
    if not cleaned:
        if optional:
            return None  # only control characters: as if no name was given
        raise InvalidEventError(argument, "must not be empty")
    return cleaned


def short_name(argument: str, value: Any) -> str | None:
    """An optional display name that fits a 255-character column."""
    return name(argument, value, optional=True, max_length=MAX_SHORT_NAME_LENGTH)


def event_id(value: Any) -> str:
    if value is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidEventError("event_id", f"must be a UUID, got {text_.shown(value)}") from None


def app_name(value: Any) -> str | None:
    if value is not None and (
        not isinstance(value, str)
        or not value.strip()
        or len(value.strip()) > MAX_APP_NAME_LENGTH
        or text_.has_unsafe(value)
    ):
        raise InvalidEventError(
            "app_name",
            f"must be a non-empty str of at most {MAX_APP_NAME_LENGTH} characters without "
            "control characters, or None",
        )
    return value.strip() if value else None
