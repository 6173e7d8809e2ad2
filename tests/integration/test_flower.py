"""Flower, as operators run it: behind basic auth from FLOWER_BASIC_AUTH, showing no secret, and
a task per event at low load but a drain per batch under a backlog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import httpx
import pytest

from tests.support.redis_server import free_port
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def flower(clean_stack):
    port = free_port()
    env = {**clean_stack.env, "FLOWER_BASIC_AUTH": "ops:flower-password-1"}
    log = open(clean_stack.tmp / "flower.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pushworker",
            "flower",
            f"--port={port}",
            "--address=127.0.0.1",
        ],
        env=env,
        cwd=clean_stack.tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 30, message="flower to listen")
    yield url
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=10)
    log.close()


def test_flower_refuses_requests_without_the_basic_auth_credentials(flower):
    assert httpx.get(f"{flower}/", timeout=5).status_code == 401
    assert httpx.get(f"{flower}/", auth=("ops", "wrong"), timeout=5).status_code == 401
    assert httpx.get(f"{flower}/", auth=("ops", "flower-password-1"), timeout=5).status_code == 200


def test_flower_shows_tasks_and_worker_configuration_without_any_secret(clean_stack, flower):
    from pushworker.store.models import Delivery, PushDevice
    from pushworker.tasks import send_goods_visit

    PushDevice.objects.create(user_id="700", app_name="qqc", os_type="android")
    clean_stack.worker()
    event_id = send_goods_visit.delay("700", "v7", "g7", "碗", visitor_name="小红").id
    wait_for(
        lambda: Delivery.objects.filter(event_id=event_id, status="sent").exists(),
        30,
        message="the delivery to be sent",
    )
    auth = ("ops", "flower-password-1")

    def task_seen():
        response = httpx.get(f"{flower}/api/tasks", auth=auth, timeout=5)
        return response.text if event_id in response.text else None

    pages = [wait_for(task_seen, 30, message="flower to list the task")]
    workers = httpx.get(f"{flower}/api/workers", auth=auth, timeout=10).json()
    for name in workers:
        pages.append(httpx.get(f"{flower}/worker/{name}", auth=auth, timeout=10).text)
        pages.append(str(workers[name]))
    pages.append(httpx.get(f"{flower}/task/{event_id}", auth=auth, timeout=10).text)
    pages.append(httpx.get(f"{flower}/broker", auth=auth, timeout=10).text)

    text = "\n".join(pages)
    for secret in (*clean_stack.secrets(), "flower-password-1"):
        assert secret not in text


def test_flower_shows_a_task_per_event_at_low_load_and_a_drain_per_batch_under_a_backlog(
    clean_stack, flower
):
    from pushworker.store.models import Delivery
    from pushworker.tasks import DRAIN, send_goods_visit
    from tests.faults.scenarios.common import add_devices, owners, published, visit

    events = 450  # past BACKLOG_THRESHOLD (20 queued messages) while no worker runs
    recipients = owners("fl", 50)
    add_devices(recipients)
    for n in range(events):
        visit(recipients[n % len(recipients)])
    published()
    clean_stack.worker()
    wait_for(
        lambda: Delivery.objects.filter(status="sent").count() == events,
        120,
        message="the backlog to be sent",
    )
    auth = ("ops", "flower-password-1")

    def names():
        tasks = httpx.get(f"{flower}/api/tasks", auth=auth, timeout=10).json()
        counted = Counter(task["name"] for task in tasks.values())
        # Flower learns of tasks from events: wait until every message's task has been seen.
        return counted if counted[DRAIN] >= 2 and counted.total() >= 20 + 2 else None

    counted = wait_for(names, 30, message="flower to list the events' tasks and the drains")
    singles = counted[send_goods_visit.name]
    assert 1 <= singles < events // 4  # the first events, each its own message
    # The rest went in drains of BATCH_SIZE (200) rows: a task per batch, not per event.
    assert 2 <= counted[DRAIN] <= events // 100 + 4
