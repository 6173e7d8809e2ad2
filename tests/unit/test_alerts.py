"""docs/alerts.yml: valid rules on metrics pushworker exports, each saying what it means and what to
do, and the outage rules' logic checked on synthetic series by ``promtool test rules``."""

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
# Gauges collected at scrape time (ops.metrics' outbox, broker.saturation's collector).
COLLECTED = {
    "pushworker_outbox_pending",
    "pushworker_queue_depth",
    "pushworker_pool_busy",
    "pushworker_pool_slots",
}
needs_promtool = pytest.mark.skipif(
    not shutil.which("promtool"), reason="promtool missing: make promtool-deps"
)


def rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def exported() -> set[str]:
    names = set(COLLECTED)
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{value._name}_{part}" for part in ("bucket", "count", "sum")}
    return names


def test_every_rule_uses_only_metrics_pushworker_exports() -> None:
    used = {name for rule in rules() for name in re.findall(r"pushworker_[a-z_]+", rule["expr"])}
    assert used and used <= exported(), used - exported()
    alerts = {rule["alert"] for rule in rules()}
    for topic in ("Dead", "Outbox", "Configuration", "Quota", "Breaker", "Transient", "Queue"):
        assert any(topic in alert for alert in alerts), topic


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_rule_says_what_it_means_and_what_to_do(rule: dict) -> None:
    annotations = rule["annotations"]
    assert {"summary", "description", "action"} <= set(annotations), rule["alert"]
    assert rule["labels"]["severity"] in ("page", "ticket")


def test_label_values_the_rules_match_are_ones_pushworker_writes() -> None:
    text = RULES.read_text()
    for reason in re.findall(r'reason=~?"([^"]+)"', text):
        assert set(reason.split("|")) <= set(metrics.FAILURE_REASONS), reason
    for category in re.findall(r'category="([^"]+)"', text):
        assert metrics.request_category(category)[1] == category


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# Synthetic scrapes, one value a minute (promtool's series notation: start+step x count).
REQUESTS = 'pushworker_xiaomi_requests_total{{app="qqc",platform="{0}",environment="production",'
OUTAGE = [
    (REQUESTS.format("android") + 'code="0",category="accepted"}', "0+60x5 300+0x15"),
    (REQUESTS.format("android") + 'code="transient",category="transient"}', "0+0x5 0+120x15"),
    (REQUESTS.format("ios") + 'code="0",category="accepted"}', "0+60x20"),  # not the outage
]
ENQUEUED = 'pushworker_enqueued_total{app="qqc",path="broker"}'
SENT = 'pushworker_deliveries_total{app="qqc",status="sent",reason=""}'
ON_ANDROID = {"app": "qqc", "platform": "android", "environment": "production"}
CASES = {
    "an outage on one platform pages after two minutes over half": (
        "PushworkerXiaomiTransientErrors",
        OUTAGE,
        [(4, []), (6, []), (9, [ON_ANDROID])],
    ),
    "five minutes without a sent push while the web enqueues": (
        "PushworkerNothingSent",
        [(ENQUEUED, "0+10x20"), (SENT, "0+10x5 50+0x15")],
        [(5, []), (9, []), (11, [{}])],
    ),
    "a quiet shop is no outage": (
        "PushworkerNothingSent",
        [(ENQUEUED, "0+0x20"), (SENT, "0+0x20")],
        [(11, [])],
    ),
    "messages waiting and never a push, the web's counts unscraped": (
        "PushworkerNothingSent",
        [('pushworker_queue_depth{queue="pushworker"}', "5+0x20")],
        [(3, [{}])],
    ),
    "a queue nobody consumes pages after ten minutes over a hundred": (
        "PushworkerQueueBacklog",
        [('pushworker_queue_depth{queue="pushworker.maintenance"}', "0+30x20")],
        [(13, []), (15, [{"queue": "pushworker.maintenance"}])],
    ),
}


def _expanded(text: str, labels: dict[str, str], value: float) -> str:
    """The annotation as Prometheus renders it for this alert (the templates the rules use)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m[1], ""), text)
    return text.replace("{{ $value }}", f"{value:g}")


def _value_at(series: list[tuple[str, str]], minute: int) -> float:
    """The value of the last series at ``minute`` (what a queue rule's $value is)."""
    start, _, rest = series[-1][1].partition("+")
    return float(start) + minute * float(rest.split("x")[0])


@needs_promtool
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.replace(" ", "-"))
def test_the_outage_rules_fire_when_they_should_and_only_then(case: str, tmp_path) -> None:
    alert, series, evaluations = CASES[case]
    [rule] = [rule for rule in rules() if rule["alert"] == alert]
    checks = []
    for minute, expected in evaluations:
        alerts = []
        for labels in expected:
            labels = labels | rule["labels"]
            value = _value_at(series, minute)
            notes = {k: _expanded(v, labels, value) for k, v in rule["annotations"].items()}
            alerts.append({"exp_labels": labels, "exp_annotations": notes})
        checks.append({"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": alerts})
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": checks,
            }
        ],
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(test, allow_unicode=True))
    done = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
