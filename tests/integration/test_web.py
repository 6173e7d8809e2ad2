"""``pushworker web`` as operators run it: real gunicorn on a free port, over real HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import free_port
from tests.support.stack import wait_for

pytestmark = pytest.mark.slow
TOKEN = "web-test-token-3c8e1a9f"
REGID = "web/regid+0ODs5f8Gpm0W5mmP8pmYwXAHmaoMbBI="


def _behind_tls_proxy(client: httpx.Client) -> httpx.Client:
    """Sends the secure cookies over plain HTTP, as the TLS-terminating proxy in front of web does.

    With DEBUG off the session and CSRF cookies are Secure, and httpx keeps them off plain HTTP.
    """

    def send_cookies(request: httpx.Request) -> None:
        request.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)

    client.event_hooks["request"] = [send_cookies]
    return client


class Web:
    """A ``pushworker web --host 127.0.0.1 --port <free>`` process group and its log."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"web-{name}.log"
        command = Path(sys.executable).with_name("pushworker")
        args = [str(command)] if command.exists() else [sys.executable, "-m", "pushworker.cli"]
        args += ["web", "--host", "127.0.0.1", "--port", str(self.port)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args,
            env=env,
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def answering(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"pushworker web exited:\n{self.log()[-4000:]}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def start(env: dict[str, str], workdir: Path, name: str):
    server = Web(env, workdir, name)
    try:
        wait_for(server.answering, 60, message="pushworker web to answer")
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def web(stack):
    server = start({**stack.env, "PUSHWORKER_API_TOKEN": TOKEN}, stack.tmp, "main")
    yield server
    server.stop()


def test_healthz_reports_database_and_broker_reachable(web) -> None:
    response = httpx.get(f"{web.url}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_is_503_naming_the_broker_when_the_broker_is_unreachable(stack) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    server = start({**stack.env, "PUSHWORKER_BROKER_URL": closed}, stack.tmp, "no-broker")
    try:
        response = httpx.get(f"{server.url}/healthz", timeout=15)
    finally:
        server.stop()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] == "ok"
    assert body["broker"].startswith("unreachable")


def test_the_admin_is_styled_its_stylesheet_served_by_the_wsgi_server(web) -> None:
    login = httpx.get(f"{web.url}/admin/login/", timeout=10)
    assert login.status_code == 200
    assert "/static/admin/css/base.css" in login.text
    css = httpx.get(f"{web.url}/static/admin/css/base.css", timeout=10)
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "body" in css.text


def test_a_device_registers_lists_and_unregisters_over_http_with_the_bearer_token(
    clean_stack, web
) -> None:
    from pushworker.store.models import PushDevice

    api = httpx.Client(base_url=web.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    body = {"user_id": "4242", "platform": "ios", "registration_id": REGID}
    assert api.post("/api/v1/devices", json=body).status_code == 201
    assert (
        api.post("/api/v1/devices", json=body | {"ios_environment": "sandbox"}).status_code == 200
    )
    device = PushDevice.objects.get(registration_id=REGID)
    assert (device.user_id, device.os_type, device.ios_environment) == ("4242", "ios", "sandbox")
    listed = api.get("/api/v1/devices", params={"user_id": "4242"})
    assert [d["registration_id"] for d in listed.json()] == [REGID]
    assert api.get("/api/v1/openapi.json").json()["openapi"].startswith("3.1")

    assert httpx.post(f"{web.url}/api/v1/devices", json=body, timeout=10).status_code == 401
    wrong = {"Authorization": f"Bearer {TOKEN}-not"}
    assert httpx.post(f"{web.url}/api/v1/devices", json=body, headers=wrong).status_code == 401
    assert api.post("/api/v1/devices", json={"platform": "ios"}).json().keys() == {"user_id"}

    assert api.delete(f"/api/v1/devices/{REGID}").status_code == 204
    assert not PushDevice.objects.exists()
    # The access log shows the request, never the device token in its path.
    wait_for(lambda: "DELETE /api/v1/devices/" in web.log(), 10, message="the access log line")
    assert REGID not in web.log() and TOKEN not in web.log()


def test_the_admin_test_push_goes_through_the_real_pipeline(clean_stack, web) -> None:
    from django.contrib.auth import get_user_model

    from pushworker.store.models import Delivery, PushDevice

    device = PushDevice.objects.create(user_id="555", app_name="qqc", os_type="android")
    get_user_model().objects.create_superuser("ops", password="ops-password-1")
    clean_stack.worker()
    admin = _behind_tls_proxy(httpx.Client(base_url=web.url, timeout=15, follow_redirects=True))
    admin.get("/admin/login/")
    admin.post(
        "/admin/login/?next=/admin/",
        data={
            "username": "ops",
            "password": "ops-password-1",
            "csrfmiddlewaretoken": admin.cookies["csrftoken"],
        },
    )
    page = admin.post(
        "/admin/pushworker/pushdevice/",
        data={
            "action": "send_test_push",
            "_selected_action": [device.pk],
            "csrfmiddlewaretoken": admin.cookies["csrftoken"],
        },
    )
    assert page.status_code == 200, page.text[:1500]
    assert "1 test push(es) enqueued" in page.text
    link = re.search(r'href="(/admin/pushworker/delivery/\?event_id__in=[^"]+)"', page.text)
    assert link, page.text[-3000:]
    sent = wait_for(
        lambda: Delivery.objects.filter(recipient_id="555", status="sent").first(),
        60,
        message="the test push to be sent",
    )
    assert clean_stack.emulator.messages()
    listed = admin.get(link.group(1))
    assert str(sent.event_id) in listed.text
    for secret in (*clean_stack.secrets(), TOKEN):
        assert secret not in page.text + listed.text + web.log()


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/v1/nothing-here", {}, 404),
        ("PATCH", "/api/v1/devices", {}, 405),
        ("POST", "/api/v1/devices", {"content": b"[" * 20_000}, 413),
        ("POST", "/api/v1/devices", {"content": b"[" * 10_000}, 400),  # nested too deeply
        ("DELETE", "/api/v1/devices/ab%00cd", {}, 400),  # PostgreSQL refuses NUL
        (
            "POST",
            "/api/v1/devices",
            {"json": {"user_id": "1", "platform": "ios", "alias": "a,b"}},
            400,
        ),
        ("GET", "/api/v1/devices", {"headers": {"X-Big": "a" * 10_000}}, 431),  # gunicorn's own
    ],
)
def test_every_answer_under_api_is_json_whichever_layer_gives_it(web, method, path, kwargs, status):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    headers |= kwargs.pop("headers", {})
    answer = httpx.request(method, f"{web.url}{path}", headers=headers, timeout=10, **kwargs)
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()


def test_a_forced_500_answers_json_and_logs_one_json_line_with_its_traceback(stack) -> None:
    import json

    # A database nobody migrated: the first query of a valid registration fails.
    unmigrated = f"sqlite:///{stack.tmp / 'never-migrated.sqlite3'}"
    env = {**stack.env, "PUSHWORKER_API_TOKEN": TOKEN, "PUSHWORKER_DATABASE_URL": unmigrated}
    server = start({**env, "PUSHWORKER_LOG_FORMAT": "json"}, stack.tmp, "forced-500")
    try:
        body = {"user_id": "500", "platform": "android", "registration_id": REGID}
        answer = httpx.post(
            f"{server.url}/api/v1/devices",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 500
        assert answer.json() == {"detail": "Internal Server Error"}
        wait_for(lambda: '"django.request"' in server.log(), 10, message="the error line")
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    [error] = [line for line in lines if line["logger"] == "django.request"]
    assert error["level"] == "ERROR" and error["message"].startswith("Internal Server Error")
    assert "Traceback" in error["traceback"] and "OperationalError" in error["traceback"]
    assert REGID not in server.log()  # the path is masked in the line and its request field
    others = [line for line in server.log().splitlines() if not line.startswith("{")]
    assert others == []  # every line JSON, the start-up checks' too
