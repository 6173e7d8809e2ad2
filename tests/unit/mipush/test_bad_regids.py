"""Specifies how the Client surfaces ``data.bad_regids`` of an accepted regid send (§4.1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pushworker.mipush import Client

FIELDS = {"title": "t", "description": "d", "restricted_package_name": "com.example"}


def answer(data: Any) -> dict[str, Any]:
    return {"result": "ok", "code": 0, "trace_id": "Xlm1", "data": data}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"id": "slm1", "bad_regids": "r2,r3"}, ("r2", "r3")),
        ({"id": "slm1", "bad_regids": ["r2"]}, ("r2",)),
        ({"id": "slm1", "bad_regids": ""}, ()),
        ({"id": "slm1"}, ()),
        ("not a dict", ()),
    ],
)
def test_bad_regids_are_surfaced_on_the_result(data: Any, expected: tuple[str, ...]) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer(data)))
    with Client("secret-0123456789abcdef", transport=transport) as client:
        [result] = client.send_to_regid(FIELDS, ["r1", "r2", "r3"])
    assert result.bad_regids == expected
