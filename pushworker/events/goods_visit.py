"""The goods-visit kind: "someone just viewed your goods", sent to the goods' owner.

``send_goods_visit(owner_id, visitor_id, goods_id, goods_name, visitor_name=None, app_name=None,
event_id=None)``; the seed's texts, shortened to fit Xiaomi's limits, never rejected for length,
because the owner should still hear that someone looked at the goods when a name is long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from pushworker.events import validators as check
from pushworker.events.base import Event, KindPolicy, OnQuota, Priority
from pushworker.events.notification import (
    DESCRIPTION_MAX_UNITS,
    Notification,
    clean,
    notify_id,
    shorten,
    utf16_units,
)
from pushworker.events.registry import register

TITLE = "您有一条新消息~"
DESCRIPTION = "【{nickname}】刚刚浏览了您的商品【{goods}】~"
DIGEST = "{count} 位用户浏览了您的商品【{goods}】"  # held-back visits, reported by the next push
DIGEST_MANY = "{count} 位用户浏览了您的商品【{goods}】等 {kinds} 件商品"
SUMMARY = "{people} 位用户浏览了您的 {goods} 件商品"  # the daily summary's clause, after "今天有"
GOODS_VISIT_TYPE = "2"  # the app routes a tap on this notification by extra.type
NICKNAME_MIN_UNITS = 12  # a long goods name never squeezes the nickname below this
TIME_TO_LIVE_MS = 24 * 3600 * 1000  # a day-old "someone viewed your goods" is not worth showing
__all__ = ["GoodsVisit", "describe", "notification", "notify_id", "shorten"]


def describe(nickname: str, goods_name: str) -> str:
    """The seed's description with both names shortened so the whole fits Xiaomi's limit."""
    nickname, goods_name = clean(nickname), clean(goods_name)
    room = DESCRIPTION_MAX_UNITS - utf16_units(DESCRIPTION.format(nickname="", goods=""))
    goods_room = max(room - utf16_units(nickname), room - NICKNAME_MIN_UNITS)
    goods_name = shorten(goods_name, goods_room)
    nickname = shorten(nickname, room - utf16_units(goods_name))
    return DESCRIPTION.format(nickname=nickname, goods=goods_name)


def notification(*, event_id: str, nickname: str, goods_id: str, goods_name: str) -> Notification:
    return Notification(
        title=TITLE,
        description=describe(nickname, goods_name),
        extra={"type": GOODS_VISIT_TYPE, "goods_id": goods_id},
        time_to_live_ms=TIME_TO_LIVE_MS,
        notify_id=notify_id(event_id),
    )


@register
@dataclass(frozen=True)
class GoodsVisit(Event):
    """The visitor just viewed a goods item of its owner; the owner's phones should hear."""

    kind: ClassVar[str] = "goods_visit"
    arguments: ClassVar[dict[str, Any]] = {
        "owner_id": check.identifier,
        "visitor_id": check.optional_identifier,  # None: an anonymous visitor
        "goods_id": check.identifier,
        "goods_name": check.name,
        "visitor_name": check.short_name,
    }
    recipient: ClassVar[str] = "owner_id"
    subject: ClassVar[str] = "goods_id"
    # Many and alike: they wait behind nothing, share multi_messages requests, count toward the
    # app's DAILY_CAP, and are stale within half an hour (tomorrow's quota is no use to them).
    policy: ClassVar[KindPolicy] = KindPolicy(
        priority=Priority.BULK,
        lifetime=timedelta(minutes=30),
        quota_exhausted=OnQuota.FAIL,
        daily_capped=True,
    )
    nickname_of: ClassVar[tuple[str, str] | None] = ("visitor_id", "visitor_name")

    event_id: str
    owner_id: str
    visitor_id: str | None  # None: an anonymous visitor, shown with a generic nickname
    goods_id: str
    goods_name: str
    visitor_name: str | None = None
    app_name: str | None = None

    def summary(self) -> str:
        visitor = self.visitor_id or "(anonymous)"
        return (
            f"visitor {visitor} viewed goods {self.goods_id} “{self.goods_name[:120]}” "
            f"of owner {self.owner_id}"
        )

    def dedup_key(self) -> str:
        """One visitor viewing one goods again is the same news (anonymous visits never repeat)."""
        visitor = self.visitor_id if self.visitor_id is not None else self.event_id
        return f"{self.owner_id}\0{visitor}\0{self.goods_id}"

    def digest(self, held: list[Event]) -> str | None:
        """The digest text (``DIGEST``): how many people viewed, counting this visit."""
        visits = [self, *(e for e in held if isinstance(e, GoodsVisit))]
        people = {v.visitor_id or v.event_id for v in visits}
        if len(people) < 2:
            return None
        goods = {v.goods_id for v in visits}
        template = DIGEST if len(goods) == 1 else DIGEST_MANY
        room = DESCRIPTION_MAX_UNITS - utf16_units(
            template.format(count=len(people), goods="", kinds=len(goods))
        )
        name = shorten(clean(self.goods_name), room)
        return template.format(count=len(people), goods=name, kinds=len(goods))

    @classmethod
    def summarize(cls, events: int, subjects: int, people: int) -> str:
        """``SUMMARY``: how many people viewed how many goods (anonymous visits count one each)."""
        return SUMMARY.format(people=people, goods=subjects)

    def suppressed(self) -> str | None:
        if self.visitor_id is not None and self.owner_id == self.visitor_id:
            return "owner viewed own goods"
        return None

    def notification(self, settings: Any, nickname: str | None = None) -> Notification:
        return notification(
            event_id=self.event_id,
            nickname=nickname or settings.unknown_visitor_name,
            goods_id=self.goods_id,
            goods_name=self.goods_name,
        )
