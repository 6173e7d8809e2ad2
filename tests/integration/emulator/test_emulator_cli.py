"""The command line: starts as a subprocess, prints both URLs, serves, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from pushworker.emulator.logs import read_urls

SECRET = "cli-android-secret-value"


def test_the_cli_prints_both_urls_serves_and_exits_cleanly_on_sigterm(tmp_path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("known-1\nknown-2\n")
    env = {
        **os.environ,
        "MIPUSH_ANDROID_APP_SECRET": SECRET,
        "MIPUSH_ANDROID_PACKAGE_NAME": "com.cli.android",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pushworker.emulator",
            "--port",
            "0",
            "--sandbox-port",
            "0",
            "--script",
            "10027",
            "--known-targets",
            f"@{targets}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        urls = read_urls(process.stdout)
        production = urls["production_url"]
        assert urls["sandbox_url"].startswith("http://127.0.0.1:")
        form = {"title": "t", "description": "d", "restricted_package_name": "com.cli.android"}
        auth = {"Authorization": f"key={SECRET}"}
        with httpx.Client(base_url=production, timeout=5) as client:

            def code(alias: str) -> int:
                data = {**form, "alias": alias}
                return client.post("/v3/message/alias", data=data, headers=auth).json()["code"]

            assert [code("known-1"), code("ghost"), code("known-2")] == [10027, 20301, 0]
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert SECRET not in stdout + stderr
    assert "com.cli.android" in stderr


def test_the_cli_refuses_to_start_without_apps() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIPUSH_")}
    result = subprocess.run(
        [sys.executable, "-m", "pushworker.emulator", "--port", "0", "--sandbox-port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2
    assert "MIPUSH_ANDROID_APP_SECRET" in result.stderr


def test_a_port_out_of_range_is_a_usage_error_not_a_traceback() -> None:
    env = {
        **os.environ,
        "MIPUSH_ANDROID_APP_SECRET": SECRET,
        "MIPUSH_ANDROID_PACKAGE_NAME": "com.cli.android",
    }
    for flag in ("--port", "--sandbox-port"):
        result = subprocess.run(
            [sys.executable, "-m", "pushworker.emulator", flag, "70000"],
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert result.returncode == 2
        assert f"argument {flag}: 70000 is not a port: use 0..65535" in result.stderr
        assert "Traceback" not in result.stderr
