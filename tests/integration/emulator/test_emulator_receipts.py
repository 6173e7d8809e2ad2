"""Specifies the receipts the emulator POSTs to ``extra.callback`` (§5.3), caught by a real HTTP
server the test starts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from pushworker.emulator import Emulator
from pushworker.mipush import Client, Endpoints
from tests.integration.emulator.emulator_support import ANDROID_APP, android_message
from tests.support.stack import wait_for


class Catcher:
    """A local HTTP server keeping each POST's form (field -> first value)."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        self.paths: list[str] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
                catcher.paths.append(self.path)
                catcher.forms.append(form)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cb/token-x"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def entries(self) -> list[tuple[str, dict]]:
        return [next(iter(json.loads(f["data"]).items())) for f in self.forms]


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    catcher = Catcher()
    yield catcher
    catcher.server.shutdown()
    catcher.server.server_close()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Client]:
    with Client(ANDROID_APP.secret, endpoints=Endpoints(emulator.production_url)) as client:
        yield client


def callback(url: str, types: int) -> dict[str, str]:
    return {
        "extra.callback": url,
        "extra.callback.param": "evt-1",
        "extra.callback.type": str(types),
    }


def test_delivered_and_invalid_target_receipts_are_posted_one_per_post(
    emulator: Emulator, client: Client, catcher: Catcher
) -> None:
    emulator.set_known_targets({"regid-ok"})
    fields = android_message(**callback(catcher.url, 1 | 2 | 16))
    [result] = client.send_to_regid(fields, ["regid-ok", "regid-bad"])
    wait_for(lambda: len(catcher.forms) == 2, 20, message="two receipts")
    assert catcher.paths == ["/cb/token-x", "/cb/token-x"]
    entries = dict((e["type"], (key, e)) for key, e in catcher.entries())
    key, delivered = entries[1]
    assert key == result.message_id
    assert (delivered["targets"], delivered["param"], delivered["barStatus"]) == (
        "regid-ok",
        "evt-1",
        "Enable",
    )
    key, invalid = entries[16]
    assert (key, invalid["targets"], invalid["errorCode"]) == (result.message_id, "regid-bad", 1)
    assert isinstance(invalid["timestamp"], int)


def test_only_the_asked_types_are_posted_and_no_callback_means_no_post(
    emulator: Emulator, client: Client, catcher: Catcher
) -> None:
    emulator.set_known_targets({"alias-ok"})
    client.send_to_alias(android_message(**callback(catcher.url, 16)), ["alias-ok", "alias-bad"])
    wait_for(lambda: len(catcher.forms) == 1, 20, message="the invalid-target receipt")
    [(_, invalid)] = catcher.entries()
    assert (invalid["type"], invalid["targets"], invalid["errorCode"]) == (16, "alias-bad", 2)
    silent = client.send_to_alias(android_message(), ["alias-ok"])[0].message_id
    client.send_to_alias(android_message(**callback(catcher.url, 1)), ["alias-ok"])
    wait_for(lambda: len(catcher.forms) == 2, 20, message="the delivered receipt")
    assert [e["type"] for _, e in catcher.entries()] == [16, 1]
    assert silent not in [key for key, _ in catcher.entries()]


def test_each_multi_item_gets_its_own_receipt_with_its_own_param_under_the_one_id(
    emulator: Emulator, client: Client, catcher: Catcher
) -> None:
    emulator.set_known_targets({"regid-ok"})
    ok = android_message(**{**callback(catcher.url, 1 | 16), "extra.callback.param": "evt-ok"})
    bad = android_message(**{**callback(catcher.url, 1 | 16), "extra.callback.param": "evt-bad"})
    [result] = client.send_multi([("regid-ok", ok), ("regid-bad", bad)], target_type="regid")
    wait_for(lambda: len(catcher.forms) == 2, 20, message="one receipt per item")
    entries = {e["param"]: (key, e["type"], e["targets"]) for key, e in catcher.entries()}
    assert entries == {
        "evt-ok": (result.message_id, 1, "regid-ok"),
        "evt-bad": (result.message_id, 16, "regid-bad"),
    }
