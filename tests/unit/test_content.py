"""Specifies the goods visit's texts (events/goods_visit.py): the seed's, shortened to fit."""

from __future__ import annotations

import random
import uuid

import pytest

from pushworker.delivery import content as wire
from pushworker.events import goods_visit as content
from pushworker.mipush import Message, utf16_length

EVENT = "5d0f0c4e-2f8e-4c55-9d43-1b1f5e0c7a11"
PACKAGE = "com.example.shop"
EMOJI = "😀"  # outside the BMP: a surrogate pair, 2 UTF-16 units
LIMIT = content.DESCRIPTION_MAX_UNITS


def android_fields(*, package: str, **event: str) -> dict[str, str]:
    """The goods visit's Android form fields, as the worker builds them."""
    return wire.android_fields(content.notification(**event), package=package)


def ios_fields(*, package: str, **event: str) -> dict[str, str]:
    return wire.ios_fields(content.notification(**event), package=package)


def fields(build=android_fields, **changes) -> dict[str, str]:
    args = {
        "event_id": EVENT,
        "nickname": "小明",
        "goods_id": "1001",
        "goods_name": "二手自行车",
        "package": PACKAGE,
    }
    return build(**(args | changes))


def test_the_title_and_description_are_the_seeds() -> None:
    assert content.TITLE == "您有一条新消息~"
    assert content.describe("小明", "二手自行车") == "【小明】刚刚浏览了您的商品【二手自行车】~"


def test_short_names_are_kept_whole() -> None:
    nickname, goods = "n" * 40, "g" * 60
    assert content.describe(nickname, goods) == f"【{nickname}】刚刚浏览了您的商品【{goods}】~"


@pytest.mark.parametrize(
    ("nickname", "goods"),
    [
        ("小明", "车" * 500),
        ("明" * 500, "二手自行车"),
        ("明" * 500, "车" * 500),
        (EMOJI * 200, EMOJI * 200),
        ("a" * 60, "b" * 60),
    ],
)
def test_long_names_are_shortened_with_an_ellipsis_to_fit_127_utf16_units(nickname, goods) -> None:
    description = content.describe(nickname, goods)
    assert utf16_length(description) <= LIMIT
    assert "…" in description
    assert description.startswith("【") and description.endswith("】~")


def test_a_long_goods_name_leaves_a_short_nickname_whole() -> None:
    description = content.describe("小明", "车" * 500)
    assert description.startswith("【小明】刚刚浏览了您的商品【车")
    assert description.endswith("车…】~")
    assert utf16_length(description) == LIMIT


def test_a_long_nickname_leaves_a_short_goods_name_whole() -> None:
    description = content.describe("明" * 500, "二手自行车")
    assert description.endswith("明…】刚刚浏览了您的商品【二手自行车】~")
    assert utf16_length(description) == LIMIT


def test_a_long_goods_name_never_squeezes_the_nickname_below_twelve_units() -> None:
    description = content.describe("明" * 500, "车" * 500)
    nickname = description[1 : description.index("】")]
    assert utf16_length(nickname) >= content.NICKNAME_MIN_UNITS
    assert nickname.endswith("…")


def test_shortening_never_cuts_a_surrogate_pair() -> None:
    for prefix in ("", "a", "ab"):
        description = content.describe("小明", prefix + EMOJI * 200)
        assert utf16_length(description) <= LIMIT
        description.encode("utf-8")  # a half pair would raise here
        goods = description[description.rindex("【") + 1 : -2]
        assert goods == prefix + EMOJI * (len(goods) - len(prefix) - 1) + "…"


def test_shorten_counts_utf16_units_and_keeps_short_text() -> None:
    assert content.shorten("abc", 3) == "abc"
    assert content.shorten("abcd", 3) == "ab…"
    assert content.shorten(EMOJI * 3, 4) == EMOJI + "…"  # 2 + 1 units; a second emoji would be 5
    assert content.shorten("ab   cd", 5) == "ab…"  # no space left before the ellipsis


def test_control_characters_and_runs_of_white_space_become_single_spaces() -> None:
    assert content.clean(" a\x00b\n\n\tc\x7fd\x85e  ") == "a b c d e"
    assert content.describe("小\n明", "自行\x00车") == "【小 明】刚刚浏览了您的商品【自行 车】~"


def test_notify_id_is_stable_per_event_and_within_xiaomis_range() -> None:
    assert content.notify_id(EVENT) == content.notify_id(EVENT)
    ids = {content.notify_id(str(uuid.UUID(int=n))) for n in range(2000)}
    assert len(ids) > 1990
    assert all(1 <= i <= 2**31 - 1 for i in ids)


def test_android_fields_are_the_seeds_notification_with_a_stable_notify_id() -> None:
    assert fields() == {
        "restricted_package_name": PACKAGE,
        "title": "您有一条新消息~",
        "description": "【小明】刚刚浏览了您的商品【二手自行车】~",
        "pass_through": "0",
        "notify_id": str(content.notify_id(EVENT)),
        "time_to_live": str(24 * 3600 * 1000),
        "extra.type": "2",
        "extra.goods_id": "1001",
    }


def test_ios_fields_carry_the_alert_badge_and_an_ios10_title() -> None:
    description = "【小明】刚刚浏览了您的商品【二手自行车】~"
    ios = fields(ios_fields, package="com.example.shop.ios")
    assert ios == {
        "restricted_package_name": "com.example.shop.ios",
        "description": description,
        "time_to_live": str(24 * 3600 * 1000),
        "extra.type": "2",
        "extra.goods_id": "1001",
        "extra.badge": "1",
        "aps_proper_fields.title": "您有一条新消息~",
        "aps_proper_fields.body": description,
    }
    assert not {"title", "pass_through", "notify_id"} & set(ios)  # Android-only fields


def random_name(rng: random.Random) -> str:
    pools = [
        "abcXYZ019 .,!?-_",
        "".join(chr(c) for c in range(0x4E00, 0x4E00 + 300)),  # CJK
        "😀🚲🎉👍🏽🇨🇳\u200d",  # emoji, skin tone, flags, ZWJ
        "".join(chr(c) for c in [*range(0, 32), *range(0x7F, 0xA0)]),  # control characters
        "\u3000\u00a0\u2028\u2029\t\n ",  # unusual white space
        "【】~…\\\"'<>&%",
    ]
    length = rng.choice([1, 2, 5, 12, 40, 63, 64, 65, 127, 128, 300, 1024])
    return "".join(rng.choice(rng.choice(pools)) for _ in range(length))


def test_many_random_names_always_build_valid_fields_for_both_platforms() -> None:
    rng = random.Random(20240607)
    for n in range(1500):
        nickname, goods = random_name(rng), random_name(rng)
        event_id = str(uuid.UUID(int=rng.getrandbits(128)))
        args = {
            "event_id": event_id,
            "nickname": nickname,
            "goods_id": str(n),
            "goods_name": goods,
            "package": PACKAGE,
        }
        android = android_fields(**args)
        ios = ios_fields(**args)
        for built in (android, ios):
            assert utf16_length(built["description"]) <= LIMIT, (nickname, goods)
            built["description"].encode("utf-8")
        # What the client would send passes the builder's own validation again.
        Message().restricted_package_name(PACKAGE).title(android["title"]).description(
            android["description"]
        ).android_fields()
