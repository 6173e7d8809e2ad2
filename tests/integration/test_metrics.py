"""The worker's /metrics: a run with known outcomes, counted across several pool children."""

from __future__ import annotations

import socket
import urllib.request

import pytest
import redis

from tests.integration.test_dead_letters import envelope
from tests.integration.test_pipeline import add_device, finished, visit
from tests.support.redis_server import free_port
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow

SENT = 12


def scrape(port: int, path: str = "/metrics") -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    """The sample of ``name`` with exactly these labels (0 when there is none)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counts_after_a_run_with_known_outcomes_add_up_over_the_pool_children(clean_stack):
    stack = clean_stack
    port = free_port()
    worker = stack.worker("metrics", concurrency=3, env={"PUSHWORKER_METRICS_PORT": str(port)})
    metrics_dir = stack.tmp / "metrics" / f"worker-{port}"
    sent_owners = [f"m{i}" for i in range(SENT)]
    for owner in sent_owners:
        add_device(owner, "android")
    add_device("m-gone", "android")  # Xiaomi does not know its alias: 20301, failed
    stack.emulator.set_known_targets([f"QQC_{owner}" for owner in sent_owners])

    events = [visit(owner) for owner in sent_owners]
    events += [visit("m-gone"), visit("m-nobody"), visit("m-self", visitor_id="m-self")]
    statuses = [finished(event_id).status for event_id in events]
    assert statuses == ["sent"] * SENT + ["failed", "failed", "suppressed"]
    redis.Redis.from_url(stack.redis.url).lpush(
        "pushworker", envelope("pushworker.no_such_task", {})
    )

    def scraped():
        samples = scrape(port)
        return samples if value(samples, "pushworker_dead_letters_total", kind="task") else None

    samples = wait_for(scraped, 30, message="the dead letter to be counted")
    deliveries = {"name": "pushworker_deliveries_total", "app": "qqc"}
    assert value(samples, **deliveries, status="sent", reason="") == SENT
    assert value(samples, **deliveries, status="failed", reason="invalid_target") == 1
    assert value(samples, **deliveries, status="failed", reason="no_device") == 1
    assert value(samples, **deliveries, status="suppressed", reason="") == 1
    assert value(samples, "pushworker_suppressed_total", reason="owner_viewed_own_goods") == 1
    requests = {"name": "pushworker_xiaomi_requests_total", "app": "qqc", "platform": "android"}
    requests |= {"environment": "production"}
    assert value(samples, **requests, code="0", category="accepted") == SENT
    assert value(samples, **requests, code="20301", category="invalid_target") == 1
    timed = value(samples, "pushworker_xiaomi_request_seconds_count", app="qqc", platform="android")
    assert timed == SENT + 1
    assert value(samples, "pushworker_enqueue_to_sent_seconds_count", app="qqc") == SENT
    assert value(samples, "pushworker_retries_total", app="qqc") == 0
    assert value(samples, "pushworker_outbox_pending") == 0
    assert value(samples, "pushworker_pool_slots") == 3
    assert value(samples, "pushworker_queue_depth", queue="pushworker") == 0
    # The counts came from more than one process: the pool's children wrote them.
    writers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}
    assert len(writers - {str(worker.process.pid)}) >= 2, writers


def test_pushworker_web_metrics_add_up_the_api_answers_of_every_gunicorn_worker(clean_stack):
    import httpx

    from tests.integration.test_web import TOKEN, start

    web = start({**clean_stack.env, "PUSHWORKER_API_TOKEN": TOKEN}, clean_stack.tmp, "metrics")
    try:
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        for n in range(10):  # a new connection each: gunicorn's workers share them out
            body = {"user_id": f"w{n}", "platform": "android", "registration_id": f"reg-{n}" * 3}
            assert httpx.post(f"{web.url}/api/v1/devices", json=body, headers=bearer).is_success
        assert httpx.post(f"{web.url}/api/v1/devices", json={}).status_code == 401
        for _ in range(4):  # whichever worker answers the scrape, the sums are the same
            samples = scrape(web.port)
            answered = {"name": "pushworker_api_requests_total", "method": "POST"}
            assert value(samples, **answered, status="201") == 10
            assert value(samples, **answered, status="401") == 1
    finally:
        web.stop()


def series(samples, name: str) -> int:
    return sum(1 for sample_name, _ in samples if sample_name == name)


NAMES = 1_000


def test_a_thousand_app_names_on_the_wire_add_at_most_one_series(clean_stack):
    from pushworker.store.models import Delivery

    stack = clean_stack
    port = free_port()
    stack.worker("labels", concurrency=2, env={"PUSHWORKER_METRICS_PORT": str(port)})
    add_device("lbl-1", "android")
    assert finished(visit("lbl-1")).status == "sent"  # the configured app's series exist
    before = scrape(port)
    size_before = len(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read())
    queue = redis.Redis.from_url(stack.redis.url)
    written = {"owner_id": "42", "visitor_id": "7", "goods_id": "1", "goods_name": "碗"}
    for n in range(NAMES):  # hand-written messages, each naming an app of its own
        queue.lpush(
            "pushworker", envelope("pushworker.send_goods_visit", written | {"app_name": f"a{n}"})
        )
    wait_for(
        lambda: Delivery.objects.filter(app_name__startswith="a", status="failed").count() == NAMES,
        120,
        message=f"{NAMES} rejected rows",
    )
    after = wait_for(
        lambda: (
            (s := scrape(port))
            # an app the settings do not name: failed as a configuration problem
            and value(
                s, "pushworker_deliveries_total", app="unknown", status="failed", reason="config"
            )
            == NAMES
            and s
        ),
        30,
        message="the rejections to be counted",
    )
    size_after = len(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read())
    grown = series(after, "pushworker_deliveries_total") - series(
        before, "pushworker_deliveries_total"
    )
    assert grown <= 1, (grown, size_before, size_after)
    assert {dict(labels)["app"] for _, labels in after if "app" in dict(labels)} <= {
        "qqc",
        "unknown",
    }
    assert size_after < size_before + 1_000, (size_before, size_after)  # one series, not a page


def test_queue_depth_and_busy_slots_are_read_when_prometheus_scrapes(clean_stack):
    from pushworker.celery import app

    stack = clean_stack
    port = free_port()
    stack.worker("depth", concurrency=2, env={"PUSHWORKER_METRICS_PORT": str(port)})
    add_device("d1", "android")
    destination = [f"depth@{socket.gethostname()}"]
    app.control.cancel_consumer("pushworker", destination=destination, reply=True)
    events = [visit("d1", goods_id=f"g-{n}") for n in range(5)]
    depth = {"name": "pushworker_queue_depth", "queue": "pushworker"}
    wait_for(lambda: value(scrape(port), **depth) == 5, 30, message="five messages waiting")
    stack.emulator.set_faults(latency_ms=1500)  # the sends take long enough to be seen busy
    app.control.add_consumer("pushworker", destination=destination, reply=True)
    wait_for(lambda: value(scrape(port), "pushworker_pool_busy") == 2, 30, message="2 busy")
    stack.emulator.set_faults(None)
    assert [finished(e).status for e in events] == ["sent"] * 5
    assert value(scrape(port), **depth) == 0
