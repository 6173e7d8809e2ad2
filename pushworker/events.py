"""The goods-visit event: the arguments of ``send_goods_visit``, checked where they are given."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from pushworker import text as text_

MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 1024  # far above what fits a notification; the cap keeps broker messages small
# The limits are the Delivery columns' (models.py): a longer value would fail the outbox write on
# PostgreSQL, inside the caller's transaction, instead of here with a clear message.
MAX_VISITOR_NAME_LENGTH = 255
MAX_APP_NAME_LENGTH = 64


class InvalidEventError(ValueError):
    """An argument of ``send_goods_visit`` is unusable; the message names the argument."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"send_goods_visit: {argument} {problem}")
        self.argument = argument
        self.problem = problem

    def __reduce__(self):  # rebuild from the two fields, not from the formatted message
        return (type(self), (self.argument, self.problem))


def _identifier(argument: str, value: Any) -> str:
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


def _name(
    argument: str, value: Any, *, optional: bool = False, max_length: int = MAX_NAME_LENGTH
) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidEventError(argument, f"must be a str, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidEventError(
            argument, f"must be at most {max_length} characters, got {len(value)}"
        )
    # Names are user data: cleaned here, once, so the records, the notification and the logs all
    # hold the same text (NUL, controls, bidi overrides and lone surrogates never get further).
    cleaned = text_.clean(value)
    if not cleaned:
        if optional:
            return None  # only control characters: as if no name was given
        raise InvalidEventError(argument, "must not be empty")
    return cleaned


@dataclass(frozen=True)
class GoodsVisit:
    """The visitor just viewed a goods item of its owner; the owner's phones should hear."""

    event_id: str
    owner_id: str
    visitor_id: str | None  # None: an anonymous visitor, shown with a generic nickname
    goods_id: str
    goods_name: str
    visitor_name: str | None = None
    app_name: str | None = None

    @classmethod
    def from_call(
        cls,
        owner_id: Any = None,
        visitor_id: Any = None,
        goods_id: Any = None,
        goods_name: Any = None,
        visitor_name: Any = None,
        app_name: Any = None,
        event_id: Any = None,
        *extra: Any,
        **unknown: Any,
    ) -> GoodsVisit:
        """Check the arguments; raise :class:`InvalidEventError` naming the first bad one."""
        if extra:
            raise InvalidEventError(
                "arguments", f"takes at most {len(fields(cls))} arguments, got {7 + len(extra)}"
            )
        for name in unknown:
            raise InvalidEventError(text_.one_line(name, 64), "is not an argument")
        if event_id is None:
            event_id = str(uuid.uuid4())
        else:
            try:
                event_id = str(uuid.UUID(str(event_id)))
            except ValueError:
                raise InvalidEventError(
                    "event_id", f"must be a UUID, got {text_.shown(event_id)}"
                ) from None
        if app_name is not None and (
            not isinstance(app_name, str)
            or not app_name.strip()
            or len(app_name.strip()) > MAX_APP_NAME_LENGTH
            or text_.has_unsafe(app_name)
        ):
            raise InvalidEventError(
                "app_name",
                f"must be a non-empty str of at most {MAX_APP_NAME_LENGTH} characters without "
                "control characters, or None",
            )
        return cls(
            event_id=event_id,
            owner_id=_identifier("owner_id", owner_id),
            visitor_id=None if visitor_id is None else _identifier("visitor_id", visitor_id),
            goods_id=_identifier("goods_id", goods_id),
            goods_name=_name("goods_name", goods_name),  # type: ignore[arg-type]
            visitor_name=_name(
                "visitor_name", visitor_name, optional=True, max_length=MAX_VISITOR_NAME_LENGTH
            ),
            app_name=app_name.strip() if app_name else None,
        )

    def as_kwargs(self) -> dict[str, str | None]:
        """The task's keyword arguments: JSON-safe ids and names, never a secret."""
        return asdict(self)
