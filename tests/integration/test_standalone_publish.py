"""A process that only calls ``django.setup()`` and ``delay()`` publishes to pushworker's Redis,
or raises; never to Celery's default broker, with a real RabbitMQ listening where that points.

Each case runs in a fresh Python process, as a standalone web process would: nothing imported but
Django's setup and the task. RabbitMQ (127.0.0.1:5672, guest) is asked through AMQP itself how
many messages its ``celery`` queue holds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis

pytestmark = pytest.mark.slow
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"

SCRIPT = """
import json, django
django.setup()
from pushworker.tasks import send_goods_visit
try:
    print(json.dumps({"event_id": send_goods_visit.delay("42", "7", "1", "碗").id}))
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
"""


def celery_queue_length() -> int:
    """Messages in RabbitMQ's ``celery`` queue (0 when it does not exist)."""
    from kombu import Connection

    with Connection(RABBITMQ, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=1)  # fails the test when RabbitMQ is not there
        try:
            return connection.channel().queue_declare("celery", passive=True).message_count
        except connection.channel_errors:  # 404: no such queue
            return 0


def run(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_standalone_settings_publish_to_pushworkers_redis(clean_stack):
    before = celery_queue_length()
    answer = run(clean_stack.env)
    [raw] = redis.Redis.from_url(clean_stack.redis.url).lrange("pushworker", 0, -1)
    assert json.loads(raw)["headers"]["id"] == answer["event_id"]
    assert celery_queue_length() == before


def test_without_the_celery_app_delay_raises_naming_the_fix_and_nothing_reaches_rabbitmq(
    clean_stack,
):
    from pushworker.store.models import Delivery

    before = celery_queue_length()
    env = {**clean_stack.env, "DJANGO_SETTINGS_MODULE": "tests.support.settings_without_celery_app"}
    answer = run(env)
    assert answer["error"] == "NotInstalledError"
    assert "import pushworker.celery" in answer["message"]
    assert "pushworker.broker.install.install(app)" in answer["message"]
    assert celery_queue_length() == before
    assert redis.Redis.from_url(clean_stack.redis.url).llen("pushworker") == 0
    assert not Delivery.objects.exists()  # refused before anything was written
