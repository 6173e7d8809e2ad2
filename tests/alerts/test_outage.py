"""The outage alert in front of a real Prometheus: Xiaomi down for two minutes, then back.

Everything is real: Debian's ``prometheus`` (``make promtool-deps``) scraping a real worker's
/metrics and ``pushworker web``'s every second, the emulator's own process stopped and started
again on its ports (refused connections, as when Xiaomi's host is down), events enqueued all
along. The rules are docs/alerts.yml's, expressions unchanged; only their ``for:`` durations are
scaled down by the test's own rule file, so the alert goes pending, then firing, within the two
minutes, and resolves once sends succeed again. The timings are written to ``timings.json`` in
the test's directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.test_pipeline import add_device, visit
from tests.support.processes import Service
from tests.support.redis_server import free_port
from tests.support.stack import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a two-minute outage and after

RULES = Path(__file__).resolve().parents[2] / "docs" / "alerts.yml"
RULE = "PushworkerXiaomiTransientErrors"
OUTAGE = 120.0  # seconds the emulator is down
FOR = {"2m": "20s", "5m": "30s", "10m": "30s", "15m": "30s"}  # the rules' `for:`, scaled down
EVENTS_PER_SECOND = 2


class Prometheus:
    """``prometheus`` scraping ``targets`` (job → host:port) every second with ``rules``."""

    def __init__(self, tmp: Path, targets: dict[str, str], rules: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus missing: run `make promtool-deps` (Debian's prometheus)")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{free_port()}"
        args = [binary, f"--config.file={tmp / 'prometheus.yml'}"]
        args += [f"--storage.tsdb.path={tmp / 'data'}", "--log.level=warn"]
        args += [f"--web.listen-address={self.url.removeprefix('http://')}"]
        self.service = Service(args, {}, tmp / "prometheus.log")
        wait_for(self.ready, 60, message="prometheus ready")

    def ready(self) -> bool:
        self.service.alive()
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> list[dict]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        return answer.json()["data"]["result"]

    def state(self, alert: str) -> str:
        """inactive, pending or firing."""
        answer = httpx.get(f"{self.url}/api/v1/rules", params={"type": "alert"}, timeout=10)
        found = [
            rule["state"]
            for group in answer.json()["data"]["groups"]
            for rule in group["rules"]
            if rule["name"] == alert
        ]
        return found[0]


def scaled(tmp: Path) -> Path:
    """docs/alerts.yml with each ``for:`` scaled down (FOR); every expression as it is."""
    data = yaml.safe_load(RULES.read_text())
    for group in data["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = FOR[rule["for"]]
    path = tmp / "rules.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


class Emulator:
    """``pushworker emulator`` on fixed ports, so it can go away and come back where it was."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env, self.tmp = env, tmp
        self.ports = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.ports[0]}"
        self.sandbox_url = f"http://127.0.0.1:{self.ports[1]}"
        self.starts = 0
        self.start()

    def start(self) -> None:
        self.starts += 1
        command = str(Path(sys.executable).with_name("pushworker"))
        args = [command, "emulator", "--port", str(self.ports[0])]
        args += ["--sandbox-port", str(self.ports[1])]
        log = self.tmp / f"emulator-{self.starts}.log"
        self.service = Service(args, self.env, log)
        wait_for(self.answering, 30, message="the emulator answering")

    def answering(self) -> bool:
        self.service.alive()
        try:
            return httpx.get(f"{self.url}/_emulator/stats", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        assert self.service.stop() in (0, -signal.SIGTERM)


def traffic_until(condition, timeout: float, owner: str, seen: dict[str, float], prometheus):
    """Enqueue EVENTS_PER_SECOND visits a second and note when the rule first takes each state,
    until ``condition()``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        for _ in range(EVENTS_PER_SECOND):
            n += 1
            visit(owner, goods_id=f"g-{time.monotonic_ns()}-{n}")
        seen.setdefault(prometheus.state(RULE), time.monotonic())
        if condition():
            return
        time.sleep(1.0 / EVENTS_PER_SECOND)  # the traffic's pace, not a wait for a state
    raise AssertionError(f"timed out after {timeout} s; states seen: {sorted(seen)}")


def test_the_outage_alert_goes_pending_then_firing_and_resolves_when_xiaomi_is_back(
    clean_stack, tmp_path
) -> None:
    from tests.integration.test_web import start

    stack = clean_stack
    worker_port = free_port()
    emulator = Emulator(stack.env, tmp_path)
    env = stack.env | {"PUSHWORKER_METRICS_PORT": str(worker_port)}
    env |= {"MIPUSH_PRODUCTION_URL": emulator.url, "MIPUSH_SANDBOX_URL": emulator.sandbox_url}
    stack.worker("outage", env=env)
    web = start(env, tmp_path, "outage")
    targets = {"pushworker-worker": f"127.0.0.1:{worker_port}"}
    targets["pushworker-web"] = web.url.removeprefix("http://")
    prometheus = Prometheus(tmp_path, targets, scaled(tmp_path))
    try:
        add_device("outage-1", "android")
        up = 'sum(up{job=~"pushworker.*"})'
        wait_for(
            lambda: prometheus.query(up) == [] or prometheus.query(up)[0]["value"][1] == "2",
            60,
            message="both targets up",
        )
        before: dict[str, float] = {}
        accepted = 'sum(pushworker_xiaomi_requests_total{category="accepted"})'
        traffic_until(lambda: prometheus.query(accepted), 60, "outage-1", before, prometheus)
        assert set(before) == {"inactive"}

        emulator.stop()
        down_at, during = time.monotonic(), {}
        traffic_until(
            lambda: time.monotonic() - down_at >= OUTAGE,
            OUTAGE + 30,
            "outage-1",
            during,
            prometheus,
        )
        emulator.start()
        up_at, after = time.monotonic(), {}
        traffic_until(
            lambda: prometheus.state(RULE) == "inactive", 240, "outage-1", after, prometheus
        )
        refused = prometheus.query(
            'sum(pushworker_xiaomi_requests_total{category="transient", code="transient"})'
        )
    finally:
        prometheus.service.stop()
        web.stop()
        emulator.service.stop()

    assert during["pending"] < during["firing"] < up_at, during
    timings = {
        "pending_after_down_s": round(during["pending"] - down_at, 1),
        "firing_after_down_s": round(during["firing"] - down_at, 1),
        "outage_s": round(up_at - down_at, 1),
        "resolved_after_back_s": round(after["inactive"] - up_at, 1),
        "refused_requests": float(refused[0]["value"][1]) if refused else 0.0,
    }
    (tmp_path / "timings.json").write_text(json.dumps(timings, indent=2))
    # The refused connections, as Prometheus saw them: no Xiaomi code, the category's word.
    assert timings["refused_requests"] > 0
