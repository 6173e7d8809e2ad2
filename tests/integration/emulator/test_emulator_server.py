"""The Emulator class: lifecycle, apps from the environment, shutdown during a hang, secrecy."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from pushworker.emulator import Emulator, EmulatorApp, apps_from_env
from tests.integration.emulator.emulator_support import ANDROID_APP, IOS_APP, android_message

ENV = {
    "MIPUSH_ANDROID_APP_SECRET": "env-android-secret",
    "MIPUSH_ANDROID_PACKAGE_NAME": "com.env.android",
    "MIPUSH_IOS_APP_SECRET": "env-ios-secret",
    "MIPUSH_IOS_BUNDLE_ID": "com.env.ios",
}


def test_without_apps_the_emulator_uses_the_workers_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with Emulator() as emulator, httpx.Client(base_url=emulator.production_url) as client:
        response = client.post(
            "/v3/message/alias",
            data={
                "alias": "a",
                "title": "t",
                "description": "d",
                "restricted_package_name": "com.env.android",
            },
            headers={"Authorization": "key=env-android-secret"},
        )
        assert response.json()["code"] == 0
        assert {(a.platform, a.package) for a in emulator.apps} == {
            ("android", "com.env.android"),
            ("ios", "com.env.ios"),
        }


def test_half_configured_or_missing_apps_fail_loudly_naming_the_key() -> None:
    with pytest.raises(ValueError, match="MIPUSH_IOS_BUNDLE_ID"):
        apps_from_env({"MIPUSH_IOS_APP_SECRET": "s"})
    with pytest.raises(ValueError, match="MIPUSH_ANDROID_APP_SECRET"):
        apps_from_env({})
    with pytest.raises(ValueError, match="platform"):
        EmulatorApp("s", "p", "windows")


def test_an_app_never_shows_its_secret_in_repr_or_description() -> None:
    assert ANDROID_APP.secret not in repr(ANDROID_APP)
    assert ANDROID_APP.secret not in ANDROID_APP.describe()


def test_start_listens_on_two_distinct_loopback_ports_and_stop_frees_them() -> None:
    emulator = Emulator(apps=[ANDROID_APP, IOS_APP]).start()
    urls = (emulator.production_url, emulator.sandbox_url)
    assert urls[0] != urls[1] and all(u.startswith("http://127.0.0.1:") for u in urls)
    assert httpx.get(f"{urls[0]}/_emulator/stats").status_code == 200
    emulator.stop()
    emulator.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{urls[0]}/_emulator/stats")


def test_stop_returns_promptly_while_a_request_hangs() -> None:
    emulator = Emulator(apps=[ANDROID_APP]).start()
    emulator.set_faults(script=["hang"])
    outcome: list[BaseException] = []

    def hang() -> None:
        try:
            httpx.post(
                f"{emulator.production_url}/v3/message/alias",
                data={**android_message(), "alias": "a"},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    while not emulator.stats()["requests"]:
        time.sleep(0.01)
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 1.5
    thread.join(5)
    assert outcome and not isinstance(outcome[0], httpx.TimeoutException)


def test_a_busy_port_raises_from_start() -> None:
    with Emulator(apps=[ANDROID_APP]) as first:
        port = int(first.production_url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            Emulator(apps=[ANDROID_APP], port=port).start()


@pytest.mark.parametrize("port", [70000, -1, True, "8765"])
def test_a_port_out_of_range_is_refused_before_binding(port: object) -> None:
    with pytest.raises(ValueError, match="port must be a port number 0..65535"):
        Emulator(apps=[ANDROID_APP], port=port)  # type: ignore[arg-type]
