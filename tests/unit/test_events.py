"""Specifies pushworker.events: send_goods_visit's arguments are checked where they are given."""

from __future__ import annotations

import pickle
import uuid

import pytest

from pushworker.events import MAX_ID_LENGTH, GoodsVisit, InvalidEventError

VALID = {"owner_id": 42, "visitor_id": "7", "goods_id": 1001, "goods_name": "二手自行车"}
ID_ARGUMENTS = ("owner_id", "visitor_id", "goods_id")


def call(**changes):
    return GoodsVisit.from_call(**(VALID | changes))


def refused(argument: str, **changes) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as caught:
        call(**changes)
    assert caught.value.argument == argument
    assert str(caught.value).startswith(f"send_goods_visit: {argument} ")
    return caught.value


def test_int_and_str_ids_are_accepted_and_kept_as_stripped_strings() -> None:
    event = call(owner_id=42, visitor_id=" 7 ", goods_id="g-1001")
    assert (event.owner_id, event.visitor_id, event.goods_id) == ("42", "7", "g-1001")


def test_a_new_event_gets_a_fresh_uuid_event_id() -> None:
    first, second = call(), call()
    assert uuid.UUID(first.event_id) and first.event_id != second.event_id


def test_a_given_event_id_is_kept_in_canonical_uuid_form() -> None:
    given = uuid.uuid4()
    assert call(event_id=given).event_id == str(given)
    assert call(event_id=str(given).upper()).event_id == str(given)


@pytest.mark.parametrize("value", [None, True, False, 4.2, [42], {"id": 42}, b"42"])
@pytest.mark.parametrize("argument", ID_ARGUMENTS)
def test_an_id_of_the_wrong_type_is_refused_naming_the_argument(argument: str, value) -> None:
    if argument == "visitor_id" and value is None:
        return  # an anonymous visitor: tests/unit/test_events.py::test_an_anonymous_visit_*
    error = refused(argument, **{argument: value})
    assert "must be an int or a str" in error.problem


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
@pytest.mark.parametrize("argument", ID_ARGUMENTS)
def test_an_empty_or_blank_id_is_refused(argument: str, value: str) -> None:
    assert refused(argument, **{argument: value}).problem == "must not be empty"


@pytest.mark.parametrize("argument", ID_ARGUMENTS)
def test_an_id_longer_than_64_characters_is_refused(argument: str) -> None:
    assert call(**{argument: "x" * MAX_ID_LENGTH})
    error = refused(argument, **{argument: "x" * (MAX_ID_LENGTH + 1)})
    assert "at most 64 characters, got 65" in error.problem


@pytest.mark.parametrize("value", ["4\x002", "a\nb", "a\x1bb", "a\x7fb", "a\x85b"])
@pytest.mark.parametrize("argument", ID_ARGUMENTS)
def test_an_id_with_control_characters_is_refused(argument: str, value: str) -> None:
    assert refused(argument, **{argument: value}).problem == "must not contain control characters"


@pytest.mark.parametrize("value", [None, 42, b"bike", ["bike"]])
def test_a_goods_name_that_is_not_a_str_is_refused(value) -> None:
    assert "must be a str" in refused("goods_name", goods_name=value).problem


@pytest.mark.parametrize("value", ["", "  \n "])
def test_an_empty_goods_name_is_refused(value: str) -> None:
    refused("goods_name", goods_name=value)


def test_a_ten_kilobyte_goods_name_is_refused() -> None:
    error = refused("goods_name", goods_name="车" * 10_240)
    assert "at most 1024 characters, got 10240" in error.problem


def test_names_are_cleaned_where_they_enter_and_emoji_kept() -> None:
    event = call(goods_name="🚲 bike\x00\n\tnew\x85", visitor_name="小明😀\x1b\u202e")
    assert event.goods_name == "🚲 bike new"
    assert event.visitor_name == "小明😀"


def test_a_missing_visitor_name_stays_none_and_a_given_one_is_checked() -> None:
    assert call().visitor_name is None
    assert "must be a str" in refused("visitor_name", visitor_name=7).problem
    assert call(visitor_name=" \x00").visitor_name is None  # nothing left: as if not given
    refused("goods_name", goods_name="\x00\u202e ")


def test_a_visitor_name_longer_than_its_column_is_refused() -> None:
    assert call(visitor_name="n" * 255).visitor_name == "n" * 255
    assert "at most 255 characters" in refused("visitor_name", visitor_name="n" * 256).problem


def test_a_lone_surrogate_in_an_id_is_refused_and_in_a_name_replaced() -> None:
    # A lone surrogate arrives from a JSON body such as {"name": "\ud83d"}; no database stores it.
    refused("owner_id", owner_id="42\ud83d")
    event = call(goods_name="bike \ud83d", visitor_name="\udc00bob")
    assert (event.goods_name, event.visitor_name) == ("bike \ufffd", "\ufffdbob")
    assert all(text.encode("utf-8") for text in (event.goods_name, event.visitor_name))


def test_an_anonymous_visit_has_no_visitor_id() -> None:
    event = call(visitor_id=None)
    assert event.visitor_id is None
    assert GoodsVisit.from_call(**event.as_kwargs()) == event


def test_an_unknown_keyword_argument_is_an_invalid_event_naming_it() -> None:
    with pytest.raises(InvalidEventError) as caught:
        call(colour="red")
    assert caught.value.argument == "colour"
    with pytest.raises(InvalidEventError):
        GoodsVisit.from_call(*range(8))


def test_an_error_shows_a_huge_bad_value_cut_short() -> None:
    error = refused("event_id", event_id="x" * 10_000_000)
    assert len(str(error)) < 200 and str(error).endswith("…")


@pytest.mark.parametrize("value", ["42", "not-a-uuid", 12345, ""])
def test_an_event_id_that_is_not_a_uuid_is_refused(value) -> None:
    assert "must be a UUID" in refused("event_id", event_id=value).problem


@pytest.mark.parametrize("value", ["", "  ", 7, "a" * 65])
def test_an_app_name_must_be_a_short_non_empty_str_or_none(value) -> None:
    refused("app_name", app_name=value)
    assert call(app_name=None).app_name is None
    assert call(app_name=" shop ").app_name == "shop"


def test_the_first_bad_argument_in_reading_order_is_named() -> None:
    refused("owner_id", owner_id=None, visitor_id=None, goods_name="")


def test_as_kwargs_round_trips_through_from_call() -> None:
    event = call(visitor_name="小明", app_name="shop")
    assert GoodsVisit.from_call(**event.as_kwargs()) == event
    assert set(event.as_kwargs()) == {
        "event_id",
        "owner_id",
        "visitor_id",
        "goods_id",
        "goods_name",
        "visitor_name",
        "app_name",
    }


def test_invalid_event_error_survives_pickling_with_its_fields() -> None:
    error = InvalidEventError("owner_id", "must not be empty")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InvalidEventError
    assert (copy.argument, copy.problem, str(copy)) == (error.argument, error.problem, str(error))


def test_invalid_event_error_is_a_value_error() -> None:
    assert issubclass(InvalidEventError, ValueError)
