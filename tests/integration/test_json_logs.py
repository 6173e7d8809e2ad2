"""JSON log lines of real processes: every line one object, one correlation id from the web's
``enqueued`` line to Xiaomi's ids in the worker's ``sent`` line, no secret."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from pushworker.web.requestid import HEADER
from tests.integration.test_pipeline import add_device, finished, visit
from tests.support import jsonlines
from tests.support.processes import Service, Worker
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

FORGED = 'req-7\n{"level": "ERROR", "message": "forged"}'


def json_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines()]


def test_one_correlation_id_ties_delay_to_xiaomi_ids_and_no_secret_is_logged(clean_stack):
    from pushworker.ops import logs
    from pushworker.store.models import Delivery
    from tests.integration.test_web import TOKEN, start

    stack = clean_stack
    add_device("jl-1", "android")
    add_device("jl-1", "ios", ios_environment="sandbox")
    worker = stack.worker(env={"PUSHWORKER_LOG_LEVEL": "DEBUG"})
    stack.emulator.set_faults(script=("http500",))  # one quick retry: more lines, same id
    with logs.correlation("req-42"):
        event_id = visit("jl-1")
    with logs.correlation(FORGED):
        forged_id = visit("jl-nobody")
    plain_id = visit("jl-nobody", goods_id="g-2")
    assert finished(event_id).status == "sent"
    assert finished(forged_id).status == finished(plain_id).status == "failed"
    web = start({**stack.env, "PUSHWORKER_API_TOKEN": TOKEN}, stack.tmp, "json-logs")
    web.stop()

    lines = json_lines(worker.log())
    ours = [line for line in lines if line.get("correlation_id") == "req-42"]
    sent = [line for line in ours if line["message"] == "sent"]
    row = Delivery.objects.get(event_id=event_id)
    assert {line["platform"] for line in sent} == {"android", "ios"}
    assert row.message_id in {line["message_id"] for line in sent}
    assert row.trace_id in {line["trace_id"] for line in sent}
    assert any(line["message"] == "finished" and line["status"] == "sent" for line in ours)
    assert any(line.get("mipush_http_status") == 500 for line in ours)  # the quick retry
    assert all(line["delivery_id"] == event_id for line in ours if "delivery_id" in line)
    # Without a correlation id set, the event id is the correlation id.
    plain = [line for line in lines if line.get("delivery_id") == plain_id]
    assert plain and all(line["correlation_id"] == plain_id for line in plain)
    # A newline in the id stays inside its field: it cannot start a line of its own.
    assert any(line.get("correlation_id", "").startswith("req-7\\n") for line in lines)
    whole = worker.log() + web.log()
    assert not any(line.startswith('{"level"') for line in whole.splitlines())
    assert "QQC_jl-1" not in whole  # targets masked
    for secret in (*stack.secrets(), TOKEN, stack.env["PUSHWORKER_SECRET_KEY"]):
        assert secret not in whole


RID = "req-jsonlines-7f3a"  # what a proxy in front of the web would send as X-Request-ID


def _emulator(env: dict[str, str], tmp: Path) -> tuple[Service, dict[str, str]]:
    from pushworker.emulator.logs import read_urls

    args = [str(Path(sys.executable).with_name("pushworker")), "emulator"]
    emulator = Service([*args, "--port", "0", "--sandbox-port", "0"], env, tmp / "emulator.log")

    def announced() -> dict[str, str] | None:
        emulator.alive()
        try:
            return read_urls(emulator.log().splitlines())
        except KeyError:
            return None

    return emulator, wait_for(announced, 30, message="the emulator's URLs")


def _test_push_from_the_admin(web_url: str, device_pk: int) -> None:
    from django.contrib.auth import get_user_model

    from tests.integration.test_web import _behind_tls_proxy

    get_user_model().objects.create_superuser("jl-ops", password="jl-ops-password-1")
    client = httpx.Client(base_url=web_url, timeout=15, follow_redirects=True)
    admin = _behind_tls_proxy(client)
    admin.get("/admin/login/")
    token = {"csrfmiddlewaretoken": admin.cookies["csrftoken"]}
    login = {"username": "jl-ops", "password": "jl-ops-password-1"}
    admin.post("/admin/login/?next=/admin/", data=login | token)
    token = {"csrfmiddlewaretoken": admin.cookies["csrftoken"]}  # a new one after the login
    action = {"action": "send_test_push", "_selected_action": [device_pk]}
    page = admin.post("/admin/pushworker/pushdevice/", data=action | token, headers={HEADER: RID})
    assert page.headers[HEADER] == RID and "1 test push(es) enqueued" in page.text
    assert httpx.get(f"{web_url}/api/v1/devices/SECRET-REGID", timeout=10).status_code == 401


def _a_pool_child_killed_mid_send(stack, worker: Worker, emulator_url: str) -> None:
    from pushworker.store.models import DeliveryAttempt

    httpx.post(f"{emulator_url}/_emulator/faults", json={"latency_ms": 2500}, timeout=5)
    event_id = visit("jl-owner", goods_id="g-killed")
    in_flight = DeliveryAttempt.objects.filter(delivery__event_id=event_id, status="sending")
    wait_for(in_flight.exists, 30, message="a request in flight")
    for pid in worker.pool_children():
        os.kill(pid, signal.SIGKILL)  # Celery logs WorkerLostError with its traceback
    httpx.post(f"{emulator_url}/_emulator/faults", json={}, timeout=5)
    assert finished(event_id, 60).status == "sent"


def test_every_line_of_a_real_run_is_one_json_object(clean_stack, tmp_path) -> None:
    """Worker, beat, web and emulator as operators run them, through errors, warnings, a killed
    pool child, a dead letter and the shutdown: not one line that is not a JSON object."""
    import redis

    from pushworker.store.models import Delivery
    from tests.integration.test_web import start

    stack = clean_stack
    # PYTHONWARNINGS: every warning of every library shows, and each must be a line like any other.
    env = {**stack.env, "PUSHWORKER_LOG_FORMAT": "json", "PYTHONWARNINGS": "default"}
    env |= {"PUSHWORKER_API_TOKEN": "jl-api-token-93c1"}
    emulator, urls = _emulator(env, tmp_path)
    env |= {"MIPUSH_PRODUCTION_URL": urls["production_url"]}
    env |= {"MIPUSH_SANDBOX_URL": urls["sandbox_url"]}
    worker = stack.worker("jsonlines", env=env, beat=False)
    beat_args = [sys.executable, "-m", "celery", "-A", "pushworker", "beat", "-l", "INFO"]
    beat = Service([*beat_args, "-s", str(tmp_path / "beat-schedule")], env, tmp_path / "beat.log")
    web = start(env, tmp_path, "jsonlines")
    try:
        device = add_device("jl-owner", "android")
        add_device("jl-owner", "ios", ios_environment="sandbox")
        _test_push_from_the_admin(web.url, device.pk)
        # A quick retry after a 500, a delivery without devices, garbage on the queue.
        httpx.post(f"{urls['production_url']}/_emulator/faults", json={"script": ["http500"]})
        assert finished(visit("jl-owner", goods_id="g-500")).status == "sent"
        assert finished(visit("jl-nobody")).status == "failed"
        redis.Redis.from_url(stack.redis.url).lpush("pushworker", b"\x00\xff not json")
        _a_pool_child_killed_mid_send(stack, worker, urls["production_url"])
        test_push = Delivery.objects.get(test_push=True)
        assert finished(str(test_push.event_id)).status == "sent"
        wait_for(beat.alive, 5, message="beat running")
    finally:
        web.stop()
        worker.terminate()
        beat.stop()
        emulator.stop()

    logs = {
        "worker": jsonlines.read(worker.log_path, "worker"),
        "beat": jsonlines.read(beat.log_path, "beat"),
        "web": jsonlines.read(web.log_path, "web"),
        "emulator": jsonlines.read(emulator.log_path, "emulator"),
    }
    assert not [(n, log.bad[:3]) for n, log in logs.items() if log.bad], [
        log.summary() for log in logs.values()
    ]
    event_id = str(test_push.event_id)
    assert logs["web"].where(message="enqueued", correlation_id=RID, delivery_id=event_id)
    assert logs["web"].where(logger="gunicorn.access", request_id=RID)
    assert logs["worker"].where(message="sent", correlation_id=RID, delivery_id=event_id)
    assert any("WorkerLostError" in o.get("traceback", "") for o in logs["worker"].objects)
    assert logs["worker"].where(message="worker: Warm shutdown (MainProcess)")
    assert logs["worker"].where(message="dead-lettered a message")
    assert logs["beat"].where(message="beat: Starting...")
    assert logs["emulator"].where(message="listening") and logs["emulator"].where(message="stopped")
    whole = "".join(p.read_text() for p in (worker.log_path, web.log_path, beat.log_path))
    assert "SECRET-REGID" not in whole
    for secret in stack.secrets():
        assert secret not in whole
