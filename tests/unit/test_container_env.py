"""docker/container_env.py: passwords with any character survive the trip into the service URLs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import dj_database_url
import pytest
from kombu.utils.url import url_to_parts

_PATH = Path(__file__).resolve().parents[2] / "docker" / "container_env.py"
_spec = importlib.util.spec_from_file_location("container_env", _PATH)
assert _spec and _spec.loader
container_env = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(container_env)  # configures os.environ: nothing to do without the parts

HOSTILE = ["p#ss", "a/b?c", "us@r:pw", "100%", "sp ace", "ünï", "&=+;,", "x" * 200]


@pytest.mark.parametrize("password", HOSTILE)
def test_the_broker_url_gives_kombu_the_password_back_whole(password: str) -> None:
    url = container_env.broker_url({"REDIS_PASSWORD": password})
    parts = url_to_parts(url)
    assert (parts.password, parts.hostname, parts.port, parts.path) == (
        password,
        "redis",
        6379,
        "0",
    )


@pytest.mark.parametrize("password", HOSTILE)
def test_the_database_url_gives_django_the_password_back_whole(password: str) -> None:
    env = {"POSTGRES_PASSWORD": password, "POSTGRES_USER": "u@x", "POSTGRES_DB": "d/b"}
    parsed = dj_database_url.parse(container_env.database_url(env))
    assert (parsed["PASSWORD"], parsed["USER"], parsed["NAME"], parsed["HOST"]) == (
        password,
        "u@x",
        "d/b",
        "postgres",
    )


def test_configure_sets_the_urls_and_drops_the_bare_passwords() -> None:
    env = {"REDIS_PASSWORD": "r#1", "POSTGRES_PASSWORD": "p?2", "REDIS_HOST": "cache"}
    container_env.configure(env)
    assert env["PUSHWORKER_BROKER_URL"] == "redis://:r%231@cache:6379/0"
    assert env["PUSHWORKER_DATABASE_URL"].startswith("postgres://pushworker:p%3F2@postgres:5432/")
    assert "REDIS_PASSWORD" not in env and "POSTGRES_PASSWORD" not in env


def test_a_url_given_whole_is_kept_and_nothing_is_made_up_without_parts() -> None:
    env = {"PUSHWORKER_BROKER_URL": "redis://:given@elsewhere:6380/1", "REDIS_PASSWORD": "x"}
    container_env.configure(env)
    assert env == {"PUSHWORKER_BROKER_URL": "redis://:given@elsewhere:6380/1"}
    empty: dict[str, str] = {}
    container_env.configure(empty)
    assert empty == {}
