"""Schemathesis against the real ``pushworker web``, from the API's own OpenAPI document.

Real gunicorn on a free port, the real database of the stack (PostgreSQL when configured, which
refuses NUL and checks the comma constraint), the bearer token of a backend. Schemathesis runs its
default checks over every phase (examples, coverage, fuzzing, stateful) with a fixed seed and a
time budget (``PUSHWORKER_FUZZ_SECONDS``, 60 by default; ``make api-fuzz``); any failure fails the
test with Schemathesis's own report. The server's log must then hold no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_web import start

pytestmark = pytest.mark.slow
TOKEN = "fuzz-token-8b2d6e4f1a9c"
SEED = 21
SECONDS = int(os.environ.get("PUSHWORKER_FUZZ_SECONDS", "60"))


def test_schemathesis_finds_no_failure_in_the_device_api(stack, tmp_path):
    web = start({**stack.env, "PUSHWORKER_API_TOKEN": TOKEN}, stack.tmp, "fuzz")
    report = tmp_path / "report.json"
    try:
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{web.url}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--seed",
                str(SEED),
                "--max-time",
                str(SECONDS),
                "--phases",
                "examples,coverage,fuzzing,stateful",
                # One thread: CPython 3.11's ast.parse (which Hypothesis calls to describe its
                # filters) fails with "AST constructor recursion depth mismatch" across threads.
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--no-color",
                "--report",
                "ndjson",
                "--report-ndjson-path",
                str(report),
            ],
            cwd=tmp_path,  # its cache folder (.schemathesis) stays out of the checkout
            capture_output=True,
            text=True,
            timeout=SECONDS * 4 + 120,
        )
    finally:
        web.stop()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-12_000:]
    assert "Traceback" not in web.log(), web.log()[-6_000:]
