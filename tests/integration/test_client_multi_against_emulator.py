"""Client.send_multi against the real emulator: one id per request, chunks, and the error class
each whole-request refusal raises (what a batch sender decides on: split, retry or give up)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pushworker.emulator import Emulator
from pushworker.mipush import (
    BadRequestError,
    Category,
    Client,
    ConfigurationError,
    Endpoints,
    InvalidTargetError,
    Message,
    MiPushError,
    ThrottledError,
    TransientError,
)
from tests.support.emulator import ANDROID_APP as ANDROID


@pytest.fixture
def emulator(fresh_emulator: Emulator) -> Emulator:
    return fresh_emulator


@pytest.fixture
def android(emulator: Emulator) -> Iterator[Client]:
    with Client(ANDROID.secret, endpoints=Endpoints(emulator.production_url)) as client:
        yield client


def fields(**overrides: str) -> dict[str, str]:
    built = (
        Message()
        .restricted_package_name(ANDROID.package)
        .title("有人看了你的店")
        .description("3 位新访客")
        .pass_through(0)
        .extra({"type": 2})
        .android_fields()
    )
    return {**built, **overrides}


def items(*targets: str) -> list[tuple[str, dict[str, str]]]:
    return [(target, fields(**{"extra.n": target})) for target in targets]


def test_a_multi_send_is_one_request_with_one_id_for_every_item(
    emulator: Emulator, android: Client
) -> None:
    [result] = android.send_multi(items("a1", "a2", "a3"), target_type="alias")
    assert result.message_id and result.message_id.startswith("a")
    assert result.info == "Received push messages for 3 ALIAS" and result.bad_regids == ()
    records = emulator.messages()
    assert [(r["targets"], r["fields"]["extra.n"]) for r in records] == [
        (["a1"], "a1"),
        (["a2"], "a2"),
        (["a3"], "a3"),
    ]
    assert {r["message_id"] for r in records} == {result.message_id}
    assert len(emulator.requests()) == 1


def test_1001_items_take_two_requests_and_a_failed_chunk_carries_the_completed_one(
    emulator: Emulator, android: Client
) -> None:
    emulator.set_faults(script=("ok", "10002"))
    with pytest.raises(TransientError) as info:
        android.send_multi(items(*(f"a{i}" for i in range(1001))), target_type="alias")
    [done] = info.value.completed
    assert {m["message_id"] for m in emulator.messages()} == {done.message_id}
    assert len(emulator.messages()) == 1000 and len(emulator.requests()) == 2


def test_one_message_xiaomi_refuses_refuses_the_request_whole_as_a_bad_request(
    emulator: Emulator, android: Client
) -> None:
    batch = [*items("a1", "a2"), ("a3", fields(title=""))]  # client-side checks pass; Xiaomi's not
    with pytest.raises(BadRequestError) as info:
        android.send_multi(batch, target_type="alias")
    error = info.value
    assert (error.category, error.code, error.maybe_delivered) == (
        Category.BAD_REQUEST,
        65011,
        False,
    )
    assert error.reason == "Title or Description is empty!" and error.completed == []
    assert emulator.messages() == []


def test_a_wrong_package_in_one_message_is_a_configuration_error_for_the_whole_request(
    emulator: Emulator, android: Client
) -> None:
    batch = [*items("a1"), ("a2", fields(restricted_package_name="com.other.app"))]
    with pytest.raises(ConfigurationError) as info:
        android.send_multi(batch, target_type="alias")
    assert (info.value.category, info.value.code) == (Category.CONFIGURATION, 22022)
    assert emulator.messages() == []


@pytest.mark.parametrize(
    ("fault", "error_class", "category", "code", "maybe_delivered"),
    [
        ("http500", TransientError, Category.TRANSIENT, None, True),
        ("http503", TransientError, Category.TRANSIENT, None, False),
        ("10001", TransientError, Category.TRANSIENT, 10001, False),
        ("10002", TransientError, Category.TRANSIENT, 10002, False),
        ("10003", TransientError, Category.TRANSIENT, 10003, False),
        ("10027", ThrottledError, Category.THROTTLED, 10027, False),
        ("65011", BadRequestError, Category.BAD_REQUEST, 65011, False),
    ],
)
def test_each_whole_request_fault_raises_its_class_with_category_and_code(
    emulator: Emulator,
    android: Client,
    fault: str,
    error_class: type[MiPushError],
    category: Category,
    code: int | None,
    maybe_delivered: bool,
) -> None:
    emulator.set_faults(script=(fault,))
    with pytest.raises(MiPushError) as info:
        android.send_multi(items("a1", "a2"), target_type="alias")
    error = info.value
    assert type(error) is error_class
    assert (error.category, error.code, error.maybe_delivered) == (category, code, maybe_delivered)
    assert emulator.messages() == []


def test_a_multi_request_over_quota_is_accepted_with_its_messages_counted_as_dropped(
    emulator: Emulator, android: Client
) -> None:
    # Not a QuotaExceededError: Xiaomi's multi endpoints answer code 0 and count the drops.
    emulator.set_faults(script=("200001",))
    [result] = android.send_multi(items("a1", "a2"), target_type="alias")
    assert result.message_id and result.channel_exceed_quota == "no_channel:2"
    assert result.quota_dropped == 2 and emulator.messages() == []
    [accepted] = android.send_multi(items("a1"), target_type="alias")
    assert (accepted.channel_exceed_quota, accepted.quota_dropped) == (None, 0)


def test_a_multi_request_naming_only_unknown_targets_is_an_invalid_target_error(
    emulator: Emulator, android: Client
) -> None:
    emulator.set_known_targets({"someone-else"})
    with pytest.raises(InvalidTargetError) as info:
        android.send_multi(items("r1", "r2"), target_type="regid")
    assert (info.value.category, info.value.code) == (Category.INVALID_TARGET, 20301)


def test_a_target_scoped_fault_isolates_one_bad_message_by_halving(
    emulator: Emulator, android: Client
) -> None:
    emulator.set_faults(fail_rate=1.0, fail_with="65011", target="a3")
    refused: list[str] = []

    def send(batch: list[tuple[str, dict[str, str]]]) -> None:
        try:
            android.send_multi(batch, target_type="alias")
        except BadRequestError:
            if len(batch) == 1:
                refused.append(batch[0][0])
                return
            send(batch[: len(batch) // 2])
            send(batch[len(batch) // 2 :])

    send(items("a1", "a2", "a3", "a4", "a5"))
    assert refused == ["a3"]
    assert sorted(t for m in emulator.messages() for t in m["targets"]) == ["a1", "a2", "a4", "a5"]
