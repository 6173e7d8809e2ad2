"""Specifies the Message builder: SDK-style setters, per-platform wire fields, local validation."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pushworker.mipush import InvalidMessageError, Message, MessageTypeError, utf16_length

PACKAGE = "com.example.shop"
EMOJI = "\U0001f600"  # outside the BMP: 2 UTF-16 units


def android() -> Message:
    return Message().restricted_package_name(PACKAGE).title("您有一条新消息~").description("hi")


def now_ms() -> int:
    return int(time.time() * 1000)


def test_every_setter_returns_the_message_so_calls_chain_like_the_sdk() -> None:
    message = Message()
    for name, value in [
        ("restricted_package_name", PACKAGE),
        ("title", "t"),
        ("description", "d"),
        ("pass_through", 0),
        ("payload", ""),
        ("notify_type", -1),
        ("notify_id", 3),
        ("time_to_live", 1000),
        ("time_to_send", now_ms() + 60_000),
        ("extra", {"a": "1"}),
        ("badge", 1),
        ("sound_url", "default"),
        ("category", "c"),
        ("channel_id", "ch"),
        ("aps_title", "t"),
        ("aps_subtitle", "s"),
        ("aps_body", "b"),
        ("aps_mutable_content", 1),
    ]:
        assert getattr(message, name)(value) is message
    assert message.extra_element("k", "v") is message


def test_android_fields_are_the_blog_message_with_stringified_values_and_flat_extras() -> None:
    message = android().pass_through(0).payload("").extra({"type": 2}).notify_id(0)
    assert message.android_fields() == {
        "restricted_package_name": PACKAGE,
        "title": "您有一条新消息~",
        "description": "hi",
        "pass_through": "0",
        "payload": "",
        "extra.type": "2",
        "notify_id": "0",
    }


def test_ios_fields_carry_badge_sound_category_and_aps_but_no_android_only_fields() -> None:
    message = (
        android()
        .pass_through(0)
        .notify_type(-1)
        .badge(1)
        .sound_url("default")
        .category("c")
        .channel_id("ch")
        .aps_title("T")
        .aps_subtitle("S")
        .aps_body("B")
        .aps_mutable_content(1)
        .extra({"type": 2})
    )
    assert message.ios_fields() == {
        "restricted_package_name": PACKAGE,
        "description": "hi",
        "extra.type": "2",
        "extra.badge": "1",
        "extra.sound_url": "default",
        "extra.category": "c",
        "aps_proper_fields.title": "T",
        "aps_proper_fields.subtitle": "S",
        "aps_proper_fields.body": "B",
        "aps_proper_fields.mutable-content": "1",
    }


def test_android_fields_leave_out_ios_settings_and_carry_the_channel_id() -> None:
    fields = android().badge(1).aps_body("B").channel_id("orders").android_fields()
    assert fields["extra.channel_id"] == "orders"
    assert "extra.badge" not in fields
    assert not any(key.startswith("aps_proper_fields") for key in fields)


def test_outputs_are_new_dicts_so_changing_one_never_changes_the_message() -> None:
    message = android()
    first = message.android_fields()
    first["title"] = "changed"
    first["alias"] = "x"
    assert message.android_fields()["title"] == "您有一条新消息~"
    assert "alias" not in message.android_fields()
    assert message.android_fields() is not message.android_fields()


def test_several_package_names_are_comma_joined() -> None:
    fields = android().restricted_package_name(["com.a", "com.b"]).android_fields()
    assert fields["restricted_package_name"] == "com.a,com.b"


@pytest.mark.parametrize("name", ["", "  ", "com.a,com.b", " com.a"])
def test_a_blank_or_comma_package_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidMessageError) as info:
        Message().restricted_package_name(name)
    assert info.value.field == "restricted_package_name"


def test_android_requires_a_package_name() -> None:
    with pytest.raises(InvalidMessageError, match="restricted_package_name"):
        Message().title("t").description("d").android_fields()


def test_ios_does_not_require_a_package_name() -> None:
    assert Message().description("d").ios_fields() == {"description": "d"}


def test_title_of_49_units_is_accepted() -> None:
    assert android().title("x" * 49).android_fields()["title"] == "x" * 49


def test_title_longer_than_49_units_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidMessageError) as info:
        Message().title("x" * 50)
    assert info.value.field == "title"
    assert "title" in str(info.value) and "49" in str(info.value)


def test_an_emoji_counts_two_units_like_java_strings() -> None:
    assert utf16_length(EMOJI) == 2
    assert utf16_length("标题") == 2
    Message().title("x" * 47 + EMOJI)
    with pytest.raises(InvalidMessageError, match="title"):
        Message().title("x" * 48 + EMOJI)


def test_description_of_127_units_is_accepted_and_128_refused() -> None:
    Message().description("描" * 127)
    with pytest.raises(InvalidMessageError) as info:
        Message().description("描" * 128)
    assert info.value.field == "description"


def test_emoji_are_allowed_in_title_and_description() -> None:
    fields = android().title(f"新消息{EMOJI}").description(f"看看{EMOJI}").android_fields()
    assert fields["title"].endswith(EMOJI)


@pytest.mark.parametrize("char", ["\x00", "\n", "\t", "\x1f", "\x7f", "\x85", "\x9f"])
@pytest.mark.parametrize("setter", ["title", "description"])
def test_control_characters_are_refused_in_title_and_description(setter: str, char: str) -> None:
    with pytest.raises(InvalidMessageError) as info:
        getattr(Message(), setter)(f"a{char}b")
    assert info.value.field == setter


def test_control_characters_are_refused_in_extra_keys_and_values() -> None:
    with pytest.raises(InvalidMessageError, match="extra.k"):
        Message().extra({"k": "a\x01"})
    with pytest.raises(InvalidMessageError, match="extra key"):
        Message().extra_element("k\n", "v")


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("value", [None, "", "   ", "\u3000"])
def test_android_notification_needs_a_non_blank_title_and_description(
    field: str, value: str | None
) -> None:
    message = Message().restricted_package_name(PACKAGE)
    for name in ("title", "description"):
        if name != field:
            getattr(message, name)("x")
        elif value is not None:
            getattr(message, name)(value)
    with pytest.raises(InvalidMessageError) as info:
        message.android_fields()
    assert info.value.field == field


def test_a_pass_through_message_needs_no_title_or_description() -> None:
    fields = Message().restricted_package_name(PACKAGE).pass_through(1).payload("{}")
    assert fields.android_fields()["pass_through"] == "1"


def test_ios_needs_a_description_even_with_an_aps_body() -> None:
    for message in (Message().title("t").badge(1), Message().aps_body("b")):
        with pytest.raises(InvalidMessageError) as info:
            message.ios_fields()
        assert info.value.field == "description"
    assert Message().description("d").aps_body("b").ios_fields() == {
        "description": "d",
        "aps_proper_fields.body": "b",
    }


def test_ten_extras_are_accepted_and_an_eleventh_is_refused() -> None:
    message = Message().extra({f"k{i}": i for i in range(10)})
    with pytest.raises(InvalidMessageError) as info:
        message.extra_element("k10", "v")
    assert info.value.field == "extra"
    assert (
        len(
            [
                k
                for k in android().extra({f"k{i}": i for i in range(10)}).android_fields()
                if k.startswith("extra.")
            ]
        )
        == 10
    )


def test_platform_extras_count_towards_the_limit_of_ten() -> None:
    message = android().extra({f"k{i}": i for i in range(10)}).badge(1)
    assert len(message.android_fields()) == 13
    with pytest.raises(InvalidMessageError, match="extra"):
        message.ios_fields()


def test_extra_keys_and_values_of_1024_are_accepted_and_longer_refused() -> None:
    Message().extra_element("k" * 1024, "v" * 1024)
    with pytest.raises(InvalidMessageError):
        Message().extra_element("k" * 1025, "v")
    with pytest.raises(InvalidMessageError, match="extra.k"):
        Message().extra_element("k", "v" * 1025)


def test_time_to_send_within_seven_days_is_accepted() -> None:
    at = now_ms() + 6 * 24 * 3600 * 1000
    assert android().time_to_send(at).android_fields()["time_to_send"] == str(at)


@pytest.mark.parametrize("offset_ms", [8 * 24 * 3600 * 1000, -10 * 60 * 1000])
def test_time_to_send_beyond_seven_days_or_in_the_past_is_refused(offset_ms: int) -> None:
    message = android().time_to_send(now_ms() + offset_ms)
    with pytest.raises(InvalidMessageError) as info:
        message.android_fields()
    assert info.value.field == "time_to_send"


def test_time_to_send_in_seconds_is_refused_as_in_the_past() -> None:
    with pytest.raises(InvalidMessageError, match="milliseconds"):
        android().time_to_send(int(time.time()) + 60).ios_fields()


@pytest.mark.parametrize("ttl", [0, -1])
def test_time_to_live_must_be_positive(ttl: int) -> None:
    with pytest.raises(InvalidMessageError) as info:
        Message().time_to_live(ttl)
    assert info.value.field == "time_to_live"


@pytest.mark.parametrize(
    ("setter", "value"),
    [
        ("title", None),
        ("title", 5),
        ("description", b"bytes"),
        ("payload", None),
        ("pass_through", True),
        ("pass_through", "0"),
        ("badge", True),
        ("badge", 1.0),
        ("notify_id", None),
        ("time_to_live", "1000"),
        ("time_to_send", 1.5e12),
        ("extra", None),
        ("extra", [("k", "v")]),
        ("restricted_package_name", None),
        ("restricted_package_name", ["com.a", 5]),
        ("channel_id", 3),
        ("aps_mutable_content", True),
    ],
)
def test_wrong_types_are_refused_with_a_type_error_naming_the_field(
    setter: str, value: Any
) -> None:
    with pytest.raises(MessageTypeError) as info:
        getattr(Message(), setter)(value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, InvalidMessageError)
    expected = {"aps_mutable_content": "aps_proper_fields.mutable-content"}.get(setter, setter)
    assert info.value.field == expected and str(info.value).startswith(expected)


@pytest.mark.parametrize("value", [None, True, 1.5, ["x"]])
def test_an_extra_value_that_is_not_a_str_or_int_is_refused(value: Any) -> None:
    with pytest.raises(MessageTypeError, match="extra.k"):
        Message().extra_element("k", value)


@pytest.mark.parametrize(
    ("setter", "value"),
    [
        ("pass_through", 2),
        ("notify_type", 8),
        ("notify_type", -2),
        ("badge", -1),
        ("aps_mutable_content", 2),
        ("notify_id", -1),
    ],
)
def test_out_of_range_integers_are_refused(setter: str, value: int) -> None:
    with pytest.raises(InvalidMessageError) as info:
        getattr(Message(), setter)(value)
    assert not isinstance(info.value, TypeError)


def test_invalid_message_error_is_a_value_error_with_field_and_problem() -> None:
    error = InvalidMessageError("title", "is too long")
    assert isinstance(error, ValueError)
    assert (error.field, error.problem, str(error)) == (
        "title",
        "is too long",
        "title: is too long",
    )
