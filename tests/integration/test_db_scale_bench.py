"""bench/db_scale.py does not rot: a tiny run reports every query, bytes per event and the purge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import _reachable

SCRIPT = Path(__file__).parents[2] / "bench" / "db_scale.py"


def test_a_tiny_benchmark_run_reports_plans_bytes_and_the_purge(tmp_path: Path) -> None:
    server = os.environ.get("PUSHWORKER_TEST_DATABASE_URL", "")
    postgres = server.startswith(("postgres://", "postgresql://")) and _reachable(server)
    out = tmp_path / "db_scale.json"
    args = [
        sys.executable,
        str(SCRIPT),
        "--rows",
        "2000",
        "--small",
        "1000",
        "--sqlite-rows",
        "2000",
        "--purge-seconds",
        "5",
        "--json",
        str(out),
    ]
    args += ["--database-url", server] if postgres else ["--engine", "sqlite"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHWORKER_DATABASE")}
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    if not postgres:
        assert json.loads(run.stdout.strip().splitlines()[-1])["total"] > 0
        pytest.skip("PostgreSQL part needs PUSHWORKER_TEST_DATABASE_URL")
    result = json.loads(out.read_text())
    pg = result["postgres"]
    assert set(pg["small"]) == set(pg["large"]) and len(pg["large"]) >= 15
    for name in ("relay: unpublished outbox rows", "sweeper: stuck deliveries"):
        assert pg["large"][name]["indexes"], name  # served by an index even on a tiny table
    assert pg["bytes_large"]["rows"] == 2000 + 300
    assert pg["bytes_large"]["total"] > 0 and result["sqlite"]["total"] > 0
    assert pg["purge"]["deliveries"] > 0  # half the rows are past the 30-day default
    assert "ratio" in run.stdout and "bytes/event" in run.stdout
