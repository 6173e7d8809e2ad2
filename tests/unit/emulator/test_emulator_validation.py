"""Pure request parsing and message rules, without a server."""

from __future__ import annotations

import json

import pytest

from pushworker.emulator import EmulatorApp
from pushworker.emulator.responses import Rejected, new_id
from pushworker.emulator.validation import parse_form, parse_multi, split_values, utf16_length

APP = EmulatorApp("s", "com.a", "android")


def test_query_and_body_parameters_are_merged_with_repeats_kept() -> None:
    form = parse_form([("alias", "q")], b"alias=a%2Cb&alias=c&title=%E6%A0%87+x")
    assert form == {"alias": ["q", "a,b", "c"], "title": ["标 x"]}


def test_invalid_utf8_in_parameters_is_refused_with_10017() -> None:
    with pytest.raises(Rejected) as caught:
        parse_form([], b"title=%FF")
    assert caught.value.code == 10017


def test_split_values_drops_blanks_and_duplicates_keeping_order() -> None:
    assert split_values(["b, a,", "b", " c "]) == ["b", "a", "c"]


def test_utf16_length_counts_an_emoji_as_two_and_a_cjk_character_as_one() -> None:
    assert utf16_length("标😀") == 3


def test_multi_messages_flatten_nested_extras_and_inherit_the_form_package() -> None:
    items = [{"target": "a", "message": {"title": "t", "extra": {"k": 1}, "pass_through": 0}}]
    form = {"messages": [json.dumps(items)], "restricted_package_name": ["com.a"]}
    assert parse_multi(form) == [
        (
            "a",
            {"title": "t", "extra.k": "1", "pass_through": "0", "restricted_package_name": "com.a"},
        )
    ]


@pytest.mark.parametrize(
    ("messages", "code"),
    [(None, 10016), ("not json", 10017), ("[]", 10017), ('[{"target": "a"}]', 10017)],
)
def test_malformed_multi_messages_are_refused(messages: str | None, code: int) -> None:
    form = {} if messages is None else {"messages": [messages]}
    with pytest.raises(Rejected) as caught:
        parse_multi(form)
    assert caught.value.code == code


def test_ids_are_22_characters_unique_and_prefixed() -> None:
    ids = {new_id("a") for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 22 and i.startswith("alm") for i in ids)
