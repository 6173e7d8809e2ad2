"""A shop's Django project adopts pushworker as the README says (tests/host_project/).

Everything is the host's own: its Celery app (``CELERY`` namespace), its worker command
(``celery -A host_project worker``), its settings dict, and the emulator started with
``manage.py pushworker_emulator``. The shop's task must keep the shop's queue and settings, and a
goods visit on the shop's page must reach the emulator through the shop's worker.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pushworker.emulator.logs import read_urls
from tests.support import database
from tests.support.redis_server import RedisServer
from tests.support.stack import wait_for

HOST = Path(__file__).resolve().parents[1] / "host_project"
pytestmark = pytest.mark.slow


class Process:
    """A subprocess of the host project with its output in a file, killed with its group."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                args,
                cwd=HOST,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> str:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.log_path.name} exited:\n{self.log()[-3000:]}")
            return text in self.log()

        wait_for(seen, timeout, message=f"{text!r} in {self.log_path.name}")
        return self.log()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class Host:
    """The shop's database, Redis, emulator and worker, and its ``manage.py``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: list[Process] = []
        self.database_url, self.drop_database = database.create(tmp)
        self.redis = RedisServer(tmp / "redis", password=secrets.token_urlsafe(12)).start()
        self.android_secret = secrets.token_urlsafe(18)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PUSHWORKER_", "MIPUSH_"))},
            "DJANGO_SETTINGS_MODULE": "host_project.settings",
            "PYTHONUNBUFFERED": "1",
            "SHOP_DATABASE_URL": self.database_url,
            "SHOP_BROKER_URL": self.redis.url,
            "SHOP_RESULT_BACKEND": self.redis.url.rsplit("/", 1)[0] + "/1",
            "SHOP_ANDROID_SECRET": self.android_secret,
            "SHOP_IOS_SECRET": secrets.token_urlsafe(18),
            # A standalone-service variable the host must not pick up: nothing listens there.
            "PUSHWORKER_BROKER_URL": "redis://127.0.0.1:1/0",
        }
        self.env.pop("PYTHONPATH", None)
        emulator = self.start(
            "emulator", [*self.manage, "pushworker_emulator", "--port", "0", "--sandbox-port", "0"]
        )
        urls = read_urls(emulator.wait_for_output("sandbox_url").splitlines())
        self.production_url = urls["production_url"]
        self.env["SHOP_PUSH_PRODUCTION_URL"] = self.production_url
        self.env["SHOP_PUSH_SANDBOX_URL"] = urls["sandbox_url"]
        self.run("migrate", "--no-input")

    @property
    def manage(self) -> list[str]:
        return [sys.executable, "manage.py"]

    def start(self, name: str, args: list[str]) -> Process:
        process = Process(args, self.env, self.tmp / f"{name}.log")
        self.processes.append(process)
        return process

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self.manage, *args],
            cwd=HOST,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def shell(self, code: str) -> object:
        """Run ``code`` in ``manage.py shell``; it prints one JSON line, returned decoded."""
        return json.loads(self.run("shell", "-c", code).strip().splitlines()[-1])

    def worker(self) -> Process:
        """The host's own worker command: no -Q, so it consumes every queue its app declares."""
        worker = self.start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "host_project",
                "worker",
                "-l",
                "INFO",
                "-c",
                "2",
                "-P",
                "prefork",
                "-n",
                "shop@%h",
                "--without-gossip",
                "--without-mingle",
                "-B",
                "-s",
                str(self.tmp / "beat-schedule"),
            ],
        )
        worker.wait_for_output(" ready.")
        return worker

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.redis.stop()
        self.drop_database()


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    host = Host(tmp_path_factory.mktemp("host"))
    try:
        host.worker()
        yield host
    finally:
        host.close()


WIRING = """
import json
from host_project.celery import app
import pushworker.tasks, shop.tasks
route = lambda name: app.amqp.router.route({}, name)["queue"].name
print(json.dumps({
    "broker_url": app.conf.broker_url,
    "routes": {n: route(n) for n in ("shop.recount", "pushworker.send_goods_visit",
                                     "pushworker.sweep_stuck")},
    "queues": [q.name for q in app.conf.task_queues],
    "tasks": {n: [app.tasks[n].time_limit, app.tasks[n].ignore_result, app.tasks[n].acks_late]
              for n in ("shop.recount", "pushworker.send_goods_visit")},
    "beat": sorted(app.conf.beat_schedule),
    "time_limit": app.conf.task_time_limit,
    "ignore_result": app.conf.task_ignore_result,
}))
"""


def test_the_hosts_celery_settings_stay_the_hosts(host) -> None:
    wiring = host.shell(WIRING)
    assert wiring["broker_url"] == host.redis.url  # CELERY_BROKER_URL, not PUSHWORKER_BROKER_URL
    assert wiring["routes"] == {
        "shop.recount": "shop",
        "pushworker.send_goods_visit": "pushworker",
        "pushworker.sweep_stuck": "pushworker.maintenance",
    }
    assert wiring["queues"] == ["shop", "pushworker.urgent", "pushworker.maintenance", "pushworker"]
    assert wiring["tasks"]["shop.recount"] == [300, False, False]
    time_limit, ignore_result, acks_late = wiring["tasks"]["pushworker.send_goods_visit"]
    assert time_limit < 60 and ignore_result is True and acks_late is True
    assert (wiring["time_limit"], wiring["ignore_result"]) == (300, False)
    assert wiring["beat"] == [
        "pushworker.purge_expired",
        "pushworker.relay_outbox",
        "pushworker.send_daily_summaries",
        "pushworker.sweep_stuck",
        "shop.nightly_report",
    ]


def test_the_host_task_runs_on_the_hosts_queue_and_keeps_its_result(host) -> None:
    outcome = host.shell(
        "import json; from shop.tasks import recount; "
        "print(json.dumps(recount.delay(2, 3).get(timeout=60)))"
    )
    assert outcome == {
        "sum": 5,
        "queue": "shop",
        "time_limit": 300,
        "acks_late": False,
        "ignore_result": False,
    }


def test_manage_py_check_and_pushworker_check_read_the_hosts_dict(host) -> None:
    assert "no issues" in host.run("check")  # with the shop's global soft time limit of 70
    described = json.loads(host.run("pushworker_check"))
    assert described["apps"]["shop"]["alias_prefix"] == "SHOP_"
    assert described["production_url"] == host.production_url
    assert host.android_secret not in json.dumps(described)


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("SHOP_ANNOTATE_EVERY_TASK", "CELERY_TASK_ANNOTATIONS changes soft_time_limit"),
        ("SHOP_VISIBILITY_TIMEOUT", "broker_transport_options['visibility_timeout'] (3600 s)"),
    ],
)
def test_a_host_setting_that_really_conflicts_is_a_named_check_error(host, variable, named):
    done = subprocess.run(
        [*host.manage, "check"],
        cwd=HOST,
        env={**host.env, variable: "3600"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "pushworker.E004" in done.stderr and named in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


VISIT = """
import json
from django.contrib.auth.models import User
from django.test import Client
from pushworker.store.models import PushDevice
from shop.models import Goods
PushDevice.objects.create(user_id="42", app_name="shop", os_type="android")
owner = User.objects.create(pk=42, username="owner42")
Goods.objects.create(pk=9, owner=owner, name="goods 9")
visitor = User.objects.create_user("小明")
client = Client()
client.force_login(visitor)
print(json.dumps(client.get("/goods/9/").json()))
"""


def test_a_goods_visit_on_the_hosts_page_is_pushed_through_the_hosts_worker(host) -> None:
    event_id = host.shell(VISIT)["event_id"]

    def pushed() -> list[dict]:
        answer = httpx.get(f"{host.production_url}/_emulator/messages", timeout=5).json()
        return answer["messages"]

    [message] = wait_for(pushed, 60, message="the push at the emulator")
    assert message["targets"] == ["SHOP_42"]
    assert "小明" in json.dumps(message["fields"], ensure_ascii=False)
    assert "com.example.shop" in json.dumps(message["fields"])

    def status() -> str:
        return host.shell(
            "import json; from pushworker.store.models import Delivery; "
            f"print(json.dumps(Delivery.objects.get(event_id='{event_id}').status))"
        )

    wait_for(lambda: status() == "sent", 60, interval=0.5, message="the delivery row sent")


def test_a_host_worker_without_the_secrets_refuses_pushworker_queues_but_serves_its_own(
    host,
) -> None:
    env = {**host.env, "SHOP_ANDROID_SECRET": "", "SHOP_IOS_SECRET": ""}
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "host_project",
        "worker",
        "-l",
        "INFO",
        "-c",
        "1",
        "--without-gossip",
        "--without-mingle",
    ]
    refused = subprocess.run(
        [*command, "-n", "refused@%h"],
        cwd=HOST,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "PUSHWORKER['APPS']['shop']['ANDROID']['APP_SECRET'] is missing" in output
    assert "PUSHWORKER['APPS']['shop']['IOS']['APP_SECRET'] is missing" in output
    shop_only = Process([*command, "-n", "shoponly@%h", "-Q", "shop"], env, host.tmp / "shop.log")
    try:
        shop_only.wait_for_output(" ready.")
    finally:
        shop_only.stop()


GOODS = """
import json
from django.contrib.auth.models import User
from shop.models import Goods
owner = User.objects.create(pk=4300, username="owner4300")
Goods.objects.create(pk=19, owner=owner, name="goods 19")
print(json.dumps(True))
"""


def test_the_hosts_web_processes_serve_their_enqueues_summed_over_gunicorn_workers(
    host, tmp_path
) -> None:
    from tests.integration.test_metrics import scrape, value
    from tests.support.redis_server import free_port

    host.shell(GOODS)
    port, samples = free_port(), tmp_path / "prometheus"
    env = {**host.env, "PROMETHEUS_MULTIPROC_DIR": str(samples)}
    args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "host_project.wsgi"]
    web = Process([*args, "-b", f"127.0.0.1:{port}"], env, tmp_path / "gunicorn.log")

    def answering() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).is_success
        except httpx.HTTPError:
            return False

    def writers() -> set[str]:
        return {p.stem.rsplit("_", 1)[1] for p in samples.glob("counter_*.db")}

    try:
        wait_for(answering, 30, message="the shop's /metrics")
        visits = 0
        while len(writers()) < 2 and visits < 200:  # a new connection each: both workers serve
            assert httpx.get(f"http://127.0.0.1:{port}/goods/19/", timeout=10).is_success
            visits += 1
        assert len(writers()) == 2

        def enqueued() -> float:
            return value(scrape(port), "pushworker_enqueued_total", app="shop", path="broker")

        # A visit's publish (and its count) runs on the worker's publisher thread after the
        # response: wait for the last one, then whichever worker answers, the sum is every visit.
        wait_for(lambda: enqueued() == visits, 10, message="every visit's publish counted")
        for _ in range(4):
            assert enqueued() == visits
    finally:
        web.stop()
