"""Specifies web.health: /healthz answers 200 when database and broker answer, else 503."""

from __future__ import annotations

import pytest
from kombu import Connection

from pushworker.web import health
from tests.support.redis_server import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_up(monkeypatch):
    # The real broker check is specified below against a closed port, and against a real Redis in
    # tests/integration/test_web.py; here only the view's answer is.
    monkeypatch.setattr(health, "broker_problem", lambda: None)


def test_healthz_is_200_json_when_database_and_broker_answer(client, broker_up) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_503_naming_the_broker_when_it_is_down(client, monkeypatch) -> None:
    monkeypatch.setattr(health, "broker_problem", lambda: "OperationalError")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "broker": "unreachable (OperationalError)",
    }


def test_healthz_is_503_naming_the_database_when_it_is_down(client, broker_up, monkeypatch):
    monkeypatch.setattr(health, "database_problem", lambda: "OperationalError")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable (OperationalError)"


def test_the_database_check_runs_a_query() -> None:
    assert health.database_problem() is None


def test_the_broker_check_names_a_refused_connection_without_its_password() -> None:
    url = f"redis://:broker-password@127.0.0.1:{free_port()}/0"
    problem = health.broker_problem(Connection(url))
    assert problem and "broker-password" not in problem
    assert problem in {"OperationalError", "ConnectionRefusedError", "ConnectionError"}


def test_healthz_answers_get_only(client, broker_up) -> None:
    assert client.post("/healthz").status_code == 405
