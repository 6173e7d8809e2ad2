"""JSON log lines from a real worker: one correlation id from delay() to Xiaomi's ids, no secret."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_pipeline import add_device, finished, visit

pytestmark = pytest.mark.slow

FORGED = 'req-7\n{"level": "ERROR", "message": "forged"}'


def json_lines(log: str) -> list[dict]:
    # Celery's own lines (worker banner, task received) keep Celery's format; ours are JSON.
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


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
