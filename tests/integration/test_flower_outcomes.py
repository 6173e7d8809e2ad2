"""Flower shows a failed delivery as a failed task, without retries, and no maintenance noise."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.test_flower import flower  # noqa: F401 - the real Flower, basic auth
from tests.integration.test_pipeline import add_device, finished, visit
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

AUTH = ("ops", "flower-password-1")


def test_failed_deliveries_are_failure_in_flower_and_maintenance_runs_are_not_listed(
    clean_stack,
    flower,  # noqa: F811
):
    stack = clean_stack
    add_device("fl-ok", "android")
    add_device("fl-gone", "android")
    stack.emulator.set_known_targets(["QQC_fl-ok"])  # fl-gone: 20301, a permanent refusal
    stack.worker()
    sent, refused, nobody = visit("fl-ok"), visit("fl-gone"), visit("fl-nobody")
    assert [finished(e).status for e in (sent, refused, nobody)] == ["sent", "failed", "failed"]

    def listed():
        tasks = httpx.get(f"{flower}/api/tasks", auth=AUTH, timeout=5).json()
        states = {tasks.get(e, {}).get("state") for e in (sent, refused, nobody)}
        return tasks if states <= {"SUCCESS", "FAILURE"} else None

    tasks = wait_for(listed, 30, message="flower to show the three deliveries ended")
    assert tasks[sent]["state"] == "SUCCESS" and "sent" in tasks[sent]["result"]
    for event_id in (refused, nobody):
        assert tasks[event_id]["state"] == "FAILURE"
        assert "DeliveryFailed" in tasks[event_id]["exception"]
        assert not tasks[event_id]["retries"]
    assert len([m for m in stack.emulator.messages() if "QQC_fl-gone" in m["targets"]]) == 0
    assert len(stack.emulator.requests()) == 2  # one each: the refusal was not retried
    # beat relays and sweeps all along (every 2 s and 10 s here); Flower never lists those runs
    names = {task.get("name") for task in tasks.values()}
    assert names == {"pushworker.send_goods_visit"}, names
    # ... nor does the worker's log: an idle run writes no line
    log = stack.workers[0].log()
    for task in ("pushworker.relay_outbox", "pushworker.sweep_stuck"):
        assert f"{task}[" not in log and f"due task {task}" not in log
