"""Specifies the code table: each documented Xiaomi code and failure condition, one category."""

from __future__ import annotations

import pytest

from pushworker.mipush import CODE_CATEGORIES, UNKNOWN_CODE_CATEGORY, Category, category_for_code
from pushworker.mipush.codes import (
    CONDITION_CATEGORIES,
    Condition,
    category_for_http_status,
    is_known_code,
)
from pushworker.mipush.errors import ERROR_CLASSES

T, TH, Q = Category.TRANSIENT, Category.THROTTLED, Category.QUOTA
IT, CF, BR = Category.INVALID_TARGET, Category.CONFIGURATION, Category.BAD_REQUEST

# Written from mipush-api.md §6.2 (official table, JAVA list, recommendation), not copied from
# the module, so a wrong entry there fails here.
DOCUMENTED = {
    -1: T,
    1: T,
    10001: T,
    10002: T,
    10003: T,
    10009: T,
    20607: T,
    22102: T,
    26003: T,
    65029: T,
    20215: T,
    20216: T,
    10022: TH,
    10023: TH,
    10024: TH,
    10027: TH,
    10028: TH,
    10030: TH,
    10032: TH,
    10039: TH,
    21303: TH,
    26004: TH,
    26005: TH,
    10034: Q,
    200001: Q,
    10029: IT,
    20301: IT,
    65003: IT,
    10004: CF,
    10026: CF,
    10031: CF,
    10033: CF,
    10036: CF,
    10038: CF,
    21301: CF,
    21302: CF,
    22000: CF,
    22001: CF,
    22002: CF,
    22006: CF,
    22007: CF,
    22008: CF,
    22022: CF,
    26006: CF,
    27001: CF,
    66108: CF,
    10008: BR,
    10012: BR,
    10016: BR,
    10017: BR,
    10035: BR,
    10037: BR,
    20209: BR,
    20315: BR,
    21305: BR,
    65006: BR,
    65007: BR,
    65008: BR,
    65009: BR,
    65010: BR,
    65011: BR,
    65012: BR,
    65013: BR,
    65014: BR,
    65015: BR,
    65016: BR,
    65017: BR,
    65028: BR,
    65030: BR,
    65035: BR,
    65036: BR,
    65037: BR,
    65038: BR,
    65040: BR,
    65041: BR,
}


@pytest.mark.parametrize(("code", "category"), sorted(DOCUMENTED.items()))
def test_each_documented_code_maps_to_its_category(code: int, category: Category) -> None:
    assert category_for_code(code) is category
    assert is_known_code(code)


def test_the_table_holds_exactly_the_documented_codes() -> None:
    assert set(CODE_CATEGORIES) == set(DOCUMENTED)


@pytest.mark.parametrize("code", [20301, 10029, 65003])
def test_unreachable_targets_are_invalid_target(code: int) -> None:
    assert category_for_code(code) is Category.INVALID_TARGET


@pytest.mark.parametrize("code", [21301, 21302, 22000, 22022, 10031, 66108])
def test_bad_secrets_packages_and_blacklisting_are_configuration(code: int) -> None:
    assert category_for_code(code) is Category.CONFIGURATION


@pytest.mark.parametrize("code", [12345, 99999, -7, 200002])
def test_an_unknown_code_is_never_retried_but_surfaced_as_bad_request(code: int) -> None:
    assert UNKNOWN_CODE_CATEGORY is Category.BAD_REQUEST
    assert category_for_code(code) is Category.BAD_REQUEST
    assert not is_known_code(code)


def test_code_zero_is_success_and_has_no_failure_category() -> None:
    with pytest.raises(ValueError, match="success"):
        category_for_code(0)


@pytest.mark.parametrize(
    ("condition", "category"),
    [
        (Condition.CONNECT_ERROR, T),
        (Condition.CONNECT_TIMEOUT, T),
        (Condition.POOL_TIMEOUT, T),
        (Condition.WRITE_ERROR, T),
        (Condition.WRITE_TIMEOUT, T),
        (Condition.READ_TIMEOUT, T),
        (Condition.CONNECTION_RESET, T),
        (Condition.NETWORK_ERROR, T),
        (Condition.HTTP_5XX, T),
        (Condition.NON_JSON_BODY, T),
        (Condition.BAD_ENDPOINT, CF),
        (Condition.LOCAL_PROTOCOL_ERROR, BR),
    ],
)
def test_each_failure_without_a_code_maps_to_its_category(
    condition: Condition, category: Category
) -> None:
    assert CONDITION_CATEGORIES[condition] is category


def test_every_condition_has_a_category() -> None:
    assert set(CONDITION_CATEGORIES) == set(Condition)


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (500, T),
        (502, T),
        (503, T),
        (504, T),
        (599, T),
        (429, TH),
        (408, T),
        (401, CF),
        (403, CF),
        (404, CF),
        (405, CF),
        (301, CF),
        (302, CF),
        (400, BR),
        (413, BR),
        (422, BR),
    ],
)
def test_http_statuses_without_a_code_map_to_a_category(status: int, category: Category) -> None:
    assert category_for_http_status(status) is category


def test_every_category_has_exactly_one_exception_class() -> None:
    assert set(ERROR_CLASSES) == set(Category)
    assert all(cls.category is category for category, cls in ERROR_CLASSES.items())
