"""Goods-visit event → the seed's notification texts and Xiaomi form fields, within Xiaomi's limits.

Pure: no database, no network. Names are shortened to fit, never rejected, because the owner
should still hear that someone looked at the goods when a name is long.
"""

from __future__ import annotations

import hashlib

from pushworker import text
from pushworker.mipush import Message

TITLE = "您有一条新消息~"
DESCRIPTION = "【{nickname}】刚刚浏览了您的商品【{goods}】~"
GOODS_VISIT_TYPE = "2"  # the app routes a tap on this notification by extra.type
# Xiaomi counts length like Java does, in UTF-16 units: title < 50, description < 128.
DESCRIPTION_MAX_UNITS = 127
NICKNAME_MIN_UNITS = 12  # a long goods name never squeezes the nickname below this
TIME_TO_LIVE_MS = 24 * 3600 * 1000  # a day-old "someone viewed your goods" is not worth showing
_ELLIPSIS = "…"


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clean(name: str) -> str:
    """The boundary's cleaning (``pushworker.text``) again: a resolved nickname comes unchecked."""
    return text.clean(name)


def shorten(text: str, max_units: int) -> str:
    """``text`` cut at a character boundary to at most ``max_units`` UTF-16 units, ending in '…'."""
    if utf16_units(text) <= max_units:
        return text
    kept, used = [], utf16_units(_ELLIPSIS)
    for char in text:
        units = utf16_units(char)
        if used + units > max_units:
            break
        kept.append(char)
        used += units
    return "".join(kept).rstrip() + _ELLIPSIS


def describe(nickname: str, goods_name: str) -> str:
    """The seed's description with both names shortened so the whole fits Xiaomi's limit."""
    nickname, goods_name = clean(nickname), clean(goods_name)
    room = DESCRIPTION_MAX_UNITS - utf16_units(DESCRIPTION.format(nickname="", goods=""))
    goods_room = max(room - utf16_units(nickname), room - NICKNAME_MIN_UNITS)
    goods_name = shorten(goods_name, goods_room)
    nickname = shorten(nickname, room - utf16_units(goods_name))
    return DESCRIPTION.format(nickname=nickname, goods=goods_name)


def notify_id(event_id: str) -> int:
    """A stable per-event notification id: a repeated send replaces the first on the phone."""
    return int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:4], "big") % (2**31 - 1) + 1


def android_fields(
    *, event_id: str, nickname: str, goods_id: str, goods_name: str, package: str
) -> dict[str, str]:
    """Form fields of the Android notification (the seed's message plus a stable notify id)."""
    return (
        Message()
        .restricted_package_name(package)
        .title(TITLE)
        .description(describe(nickname, goods_name))
        .pass_through(0)
        .notify_id(notify_id(event_id))
        .time_to_live(TIME_TO_LIVE_MS)
        .extra({"type": GOODS_VISIT_TYPE, "goods_id": goods_id})
        .android_fields()
    )


def ios_fields(
    *, event_id: str, nickname: str, goods_id: str, goods_name: str, package: str
) -> dict[str, str]:
    """Form fields of the iOS notification: the seed's alert and badge, plus an iOS 10 title.

    Xiaomi's iOS messages have no ``notify_id``, so a repeated iOS send cannot replace the first;
    such repeats are still counted and flagged on the delivery.
    """
    description = describe(nickname, goods_name)
    return (
        Message()
        .restricted_package_name(package)
        .description(description)
        .aps_title(TITLE)
        .aps_body(description)
        .badge(1)
        .time_to_live(TIME_TO_LIVE_MS)
        .extra({"type": GOODS_VISIT_TYPE, "goods_id": goods_id})
        .ios_fields()
    )
