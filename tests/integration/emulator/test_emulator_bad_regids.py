"""Specifies the emulator's partial regid answer (§4.1) as the real client reads it over HTTP."""

from __future__ import annotations

import pytest

from pushworker.emulator import Emulator
from pushworker.mipush import Client, Endpoints, InvalidTargetError
from tests.integration.emulator.emulator_support import ANDROID_APP, android_message


@pytest.fixture
def client(emulator: Emulator):
    with Client(ANDROID_APP.secret, endpoints=Endpoints(emulator.production_url)) as client:
        yield client


def test_a_regid_list_with_unknown_ones_is_accepted_naming_them_in_bad_regids(
    emulator: Emulator, client: Client
) -> None:
    emulator.set_known_targets({"regid-known"})
    [result] = client.send_to_regid(android_message(), ["regid-known", "regid-ghost", "regid-gone"])
    assert result.message_id and set(result.bad_regids) == {"regid-ghost", "regid-gone"}
    [message] = emulator.messages()
    assert message["targets"] == ["regid-known"]


def test_all_regids_known_or_an_alias_send_name_no_bad_regids(
    emulator: Emulator, client: Client
) -> None:
    emulator.set_known_targets({"regid-known", "alias-known"})
    assert client.send_to_regid(android_message(), ["regid-known"])[0].bad_regids == ()
    assert client.send_to_alias(android_message(), ["alias-known", "alias-x"])[0].bad_regids == ()


def test_every_regid_unknown_is_still_refused_whole_with_20301(
    emulator: Emulator, client: Client
) -> None:
    emulator.set_known_targets({"someone-else"})
    with pytest.raises(InvalidTargetError) as refused:
        client.send_to_regid(android_message(), ["regid-ghost"])
    assert refused.value.code == 20301


def test_a_multi_request_with_unknown_regids_is_accepted_with_no_per_target_field(
    emulator: Emulator, client: Client
) -> None:
    # §4.1: no per-target field was found for multi_messages; the fate of an unknown target
    # arrives later as an invalid-target receipt, so the answer names nobody.
    emulator.set_known_targets({"regid-known"})
    fields = android_message()
    [result] = client.send_multi(
        [("regid-ghost", fields), ("regid-known", fields)], target_type="regid"
    )
    assert result.message_id and result.bad_regids == ()
    assert result.info == "Received push messages for 1 REGID"
    records = emulator.messages()
    assert [(r["targets"], r["dropped_targets"]) for r in records] == [
        ([], ["regid-ghost"]),
        (["regid-known"], []),
    ]
    assert {r["message_id"] for r in records} == {result.message_id}


def test_a_multi_request_naming_no_known_target_is_refused_whole_with_20301(
    emulator: Emulator, client: Client
) -> None:
    emulator.set_known_targets({"someone-else"})
    items = [("regid-ghost", android_message()), ("regid-gone", android_message())]
    with pytest.raises(InvalidTargetError) as refused:
        client.send_multi(items, target_type="regid")
    assert refused.value.code == 20301 and emulator.messages() == []
