"""docs/alerts.yml: valid rules (promtool when installed) on metrics pushworker really exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Histogram

from pushworker.ops import metrics

RULES = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"


def exported() -> set[str]:
    names = {"pushworker_outbox_pending"}
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{value._name}_{part}" for part in ("bucket", "count", "sum")}
    return names


def test_every_rule_uses_only_metrics_pushworker_exports() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    used = {name for rule in rules for name in re.findall(r"pushworker_[a-z_]+", rule["expr"])}
    assert used and used <= exported(), used - exported()
    alerts = {rule["alert"] for rule in rules}
    for topic in ("Dead", "Outbox", "Configuration", "Quota", "Breaker"):
        assert any(topic in alert for alert in alerts), topic


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool missing: make promtool-deps")
def test_promtool_accepts_the_rules() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
