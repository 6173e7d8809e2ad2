"""The order-shipped kind: "your order has shipped", sent to the buyer.

``send_order_shipped(buyer_id, order_id, goods_name, carrier, app_name=None, event_id=None)``.
Adding it took this module and its test, nothing else: the registry finds it, and the task
``pushworker.send_order_shipped``, its route, the admin's kind filter and ``pushworker send
order_shipped`` follow from it.
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
    notify_id,
    shorten,
    utf16_units,
)
from pushworker.events.registry import register

TITLE = "您的订单已发货"
DESCRIPTION = "您购买的【{goods}】已由{carrier}发出"
SUMMARY = "{orders} 个订单已发货"  # the daily summary's clause, when the app lets it be summarized
ORDER_SHIPPED_TYPE = "3"  # the app opens the order when a notification of this type is tapped
CARRIER_MAX_UNITS = 20  # a carrier is a company name; the goods name gets the rest of the room
TIME_TO_LIVE_MS = 3 * 24 * 3600 * 1000  # still news for a few days, unlike a goods visit


def describe(goods_name: str, carrier: str) -> str:
    """The description, both names shortened so the whole fits Xiaomi's limit."""
    carrier = shorten(carrier, CARRIER_MAX_UNITS)
    room = DESCRIPTION_MAX_UNITS - utf16_units(DESCRIPTION.format(goods="", carrier=carrier))
    return DESCRIPTION.format(goods=shorten(goods_name, room), carrier=carrier)


@register
@dataclass(frozen=True)
class OrderShipped(Event):
    """The buyer's order left the warehouse; the buyer's phones should hear."""

    kind: ClassVar[str] = "order_shipped"
    arguments: ClassVar[dict[str, Any]] = {
        "buyer_id": check.identifier,
        "order_id": check.identifier,
        "goods_name": check.name,
        "carrier": lambda argument, value: check.name(
            argument, value, max_length=check.MAX_SHORT_NAME_LENGTH
        ),
    }
    recipient: ClassVar[str] = "buyer_id"
    subject: ClassVar[str] = "order_id"
    # Urgent: its own queue, never behind a goods-visit backlog. Still news tomorrow, so a used-up
    # daily quota means waiting, within a day.
    policy: ClassVar[KindPolicy] = KindPolicy(
        priority=Priority.URGENT,
        lifetime=timedelta(hours=24),
        quota_exhausted=OnQuota.RETRY,
    )

    event_id: str
    buyer_id: str
    order_id: str
    goods_name: str
    carrier: str
    app_name: str | None = None

    def summary(self) -> str:
        return (
            f"order {self.order_id} “{self.goods_name[:120]}” shipped by {self.carrier} "
            f"to buyer {self.buyer_id}"
        )

    @classmethod
    def summarize(cls, events: int, subjects: int, people: int) -> str:
        return SUMMARY.format(orders=subjects)

    def notification(self, settings: Any, nickname: str | None = None) -> Notification:
        return Notification(
            title=TITLE,
            description=describe(self.goods_name, self.carrier),
            extra={"type": ORDER_SHIPPED_TYPE, "order_id": self.order_id},
            time_to_live_ms=TIME_TO_LIVE_MS,
            notify_id=notify_id(self.event_id),
        )
