"""What every event kind declares, and the behaviour all kinds share (calls, rows, task names).

A kind is a frozen dataclass subclassing :class:`Event` with the fields ``event_id`` and
``app_name`` plus its own arguments. It declares, as class attributes and methods:

- ``kind`` (its name; the task is ``pushworker.send_<kind>``) and ``arguments`` (the task's own
  arguments in call order, each with its check built from ``events.validators``);
- ``recipient`` and ``subject`` (which arguments say whose phones hear it and what the admin
  searches it by);
- ``suppressed`` (why it must not be sent, or None) and ``notification`` (what the phone shows),
  with ``nickname_of`` when it names a person the delivery layer looks up;
- ``policy``, a :class:`KindPolicy`: its priority (an urgent kind has its own queue and is claimed
  first), its lifetime (how long an event stays worth sending: retries stop there, not after a
  count), what Xiaomi's used-up daily quota means for it, whether the app's daily cap counts it,
  whether it may share a ``multi_messages`` request with other events and whether recipients'
  preferences apply to it;
- ``dedup_key`` and ``digest`` (what the delivery policy, ``pushworker.delivery.policy``, repeats
  and reports), and ``summarize`` (its line in a recipient's daily summary).

The delivery row keeps ``kind``, ``recipient_id``, ``subject_id`` and the rest as a JSON
``payload``; :meth:`Event.from_row` rebuilds the event from them, so a new kind needs no column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

from pushworker.events import text as text_
from pushworker.events import validators
from pushworker.events.validators import InvalidEventError

Check = Callable[[str, Any], Any]


class Priority(IntEnum):
    """How soon an event must go: an urgent one never waits behind bulk ones."""

    BULK = 0  # joins a backlog's rows and waits its turn (a goods visit)
    URGENT = 1  # its own message on its own queue, claimed first when it waits (an order shipped)


class OnQuota(StrEnum):
    """What Xiaomi's used-up daily quota means for a kind's events."""

    FAIL = "fail"  # tomorrow the news is stale: the event fails
    RETRY = "retry"  # still news tomorrow: the event waits and retries within its lifetime


@dataclass(frozen=True)
class KindPolicy:
    """How the engine treats a kind's events; every kind declares one as ``policy``."""

    priority: Priority = Priority.BULK
    lifetime: timedelta = timedelta(minutes=30)  # worth sending this long after it was enqueued
    quota_exhausted: OnQuota = OnQuota.FAIL
    daily_capped: bool = False  # whether the app's DAILY_CAP counts this kind
    batchable: bool = True  # whether its events may share one multi_messages request
    # Whether a recipient may turn the kind off or have it summarized (the summary itself: no).
    chosen_by_recipient: bool = True

    def __post_init__(self) -> None:
        if self.lifetime <= timedelta(0):
            raise ValueError("a kind's lifetime must be positive")


class Event:
    """Base of every kind; see the module docstring for what a kind declares."""

    kind: ClassVar[str]
    arguments: ClassVar[dict[str, Check]]  # the task's own arguments, in call order
    recipient: ClassVar[str]  # the argument holding the user whose devices are sent to
    subject: ClassVar[str]  # the argument the admin searches by (goods id, order id...)
    policy: ClassVar[KindPolicy] = KindPolicy()
    # (user id argument, given name argument) of the person the notification names; the delivery
    # layer resolves the nickname (pushworker.delivery.nicknames) and hands it to notification().
    nickname_of: ClassVar[tuple[str, str] | None] = None

    event_id: str
    app_name: str | None

    @classmethod
    def task_name(cls) -> str:
        return f"pushworker.send_{cls.kind}"

    @classmethod
    def from_call(cls, *args: Any, **kwargs: Any) -> Event:
        """Check the task's arguments; raise :class:`InvalidEventError` naming the first bad one.

        The call is ``(*arguments, app_name=None, event_id=None)``, positionally or by name.
        """
        task = f"send_{cls.kind}"
        names = [*cls.arguments, "app_name", "event_id"]
        if len(args) > len(names):
            raise InvalidEventError(
                "arguments", f"takes at most {len(names)} arguments, got {len(args)}", task
            )
        given = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names:
                raise InvalidEventError(text_.one_line(name, 64), "is not an argument", task)
            if name in given:
                raise InvalidEventError(name, "is given twice", task)
            given[name] = value
        try:
            values = {
                "event_id": validators.event_id(given.get("event_id")),
                "app_name": validators.app_name(given.get("app_name")),
            }
            values |= {n: check(n, given.get(n)) for n, check in cls.arguments.items()}
        except InvalidEventError as error:
            raise InvalidEventError(error.argument, error.problem, task) from None
        return cls(**values)

    def as_kwargs(self) -> dict[str, Any]:
        """The task's keyword arguments: JSON-safe ids and names, never a secret."""
        return asdict(self)  # type: ignore[call-overload]

    @property
    def recipient_id(self) -> str:
        return getattr(self, self.recipient)

    @property
    def subject_id(self) -> str:
        return getattr(self, self.subject) or ""

    def payload(self) -> dict[str, Any]:
        """The event's own arguments but the recipient, as kept in the row's JSON column."""
        return {n: getattr(self, n) for n in self.arguments if n != self.recipient}

    @classmethod
    def from_row(
        cls, event_id: str, app_name: str | None, recipient_id: str, payload: dict[str, Any]
    ) -> Event:
        """The event a delivery row holds (trusted: it was checked when it was accepted)."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {n: v for n, v in (payload or {}).items() if n in known}
        values |= {"event_id": event_id, "app_name": app_name, cls.recipient: recipient_id}
        for name in cls.arguments:
            values.setdefault(name, None)
        return cls(**values)

    def dedup_key(self) -> str:
        """What makes two calls one event: by default the event id (the task id)."""
        return self.event_id

    def digest(self, held: list[Event]) -> str | None:
        """The description that reports ``held`` (events the policy held back) with this one."""
        return None

    @classmethod
    def summarize(cls, events: int, subjects: int, people: int) -> str:
        """This kind's clause in a daily summary ("今天有 " + clauses): ``events`` held back for the
        summary, about ``subjects`` distinct subjects, from ``people`` distinct people (the user
        ``nickname_of`` names; one per event when the kind names nobody)."""
        return f"{events} 条{cls.kind.replace('_', ' ')}消息"

    def summary(self) -> str:
        """One line for the admin's story of the delivery."""
        return f"{self.kind.replace('_', ' ')} to user {self.recipient_id} about {self.subject_id}"

    def suppressed(self) -> str | None:
        """Why this event must not be sent at all, or None."""
        return None

    def notification(self, settings: Any, nickname: str | None = None) -> Any:
        """What the phone shows (a ``notification.Notification``); ``nickname``: the name of the
        person ``nickname_of`` names, resolved by the delivery layer (None when it names none)."""
        raise NotImplementedError
