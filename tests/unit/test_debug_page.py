"""Specifies the DEBUG error page: no secret, password or credential URL of the service shows."""

from __future__ import annotations

import socket

import pytest
from django.test import Client

from tests.unit.debug_urls import SECRETS
from tests.unit.environment import ANDROID_SECRET, IOS_SECRET

REDIS_PASSWORD = "redis-pw-5e6f7a8b9c"
POSTGRES_PASSWORD = "pg-pw-0d1e2f3a4b"
FLOWER_PASSWORD = "flower-pw-6c7d8e9f0a"
# What request.META holds under runserver: a copy of os.environ, i.e. the compose environment.
RUNSERVER_ENVIRON = {
    "PUSHWORKER_BROKER_URL": f"redis://:{REDIS_PASSWORD}@redis:6379/0",
    "PUSHWORKER_DATABASE_URL": f"postgres://pushworker:{POSTGRES_PASSWORD}@postgres/pushworker",
    "REDIS_PASSWORD": REDIS_PASSWORD,
    "POSTGRES_PASSWORD": POSTGRES_PASSWORD,
    "PGPASSWORD": POSTGRES_PASSWORD,
    "FLOWER_BASIC_AUTH": f"admin:{FLOWER_PASSWORD}",
    "MIPUSH_ANDROID_APP_SECRET": ANDROID_SECRET,
    "MIPUSH_IOS_APP_SECRET": IOS_SECRET,
}


def _refused_url() -> str:
    with socket.socket() as sock:  # bound, then closed: nothing listens on the port
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def debug_page(settings, emulator, monkeypatch):
    """GET a view of tests.unit.debug_urls with DEBUG on; returns the page's text."""
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.unit.debug_urls"
    # Settings a host project might hold: a broker URL with its password, the PUSHWORKER dict.
    settings.CELERY_BROKER_URL = RUNSERVER_ENVIRON["PUSHWORKER_BROKER_URL"]
    settings.PUSHWORKER_EXAMPLE = {
        "MIPUSH_ANDROID_APP_SECRET": ANDROID_SECRET,
        "BROKER": RUNSERVER_ENVIRON["PUSHWORKER_BROKER_URL"],
    }
    monkeypatch.setenv("DEBUG_PAGE_REFUSED_URL", _refused_url())
    client = Client(raise_request_exception=False)

    def get(view: str, accept: str) -> str:
        response = client.get(f"/{view}/", HTTP_ACCEPT=accept, **RUNSERVER_ENVIRON)
        assert response.status_code == 500
        return response.content.decode()

    return get


def _secrets(settings) -> list[str]:
    return [
        *SECRETS.values(),
        ANDROID_SECRET,
        IOS_SECRET,
        REDIS_PASSWORD,
        POSTGRES_PASSWORD,
        FLOWER_PASSWORD,
        settings.SECRET_KEY,
    ]


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
@pytest.mark.parametrize(
    ("view", "shown"),
    [
        ("refused", ["ConnectError", "translated_transport_errors", "AppSecretAuth"]),
        ("rejected", ["21301", "parse_response"]),
        ("bridge", ["21301", "APISender"]),
        ("malformed", ["ValueError", "AppSecretAuth"]),
    ],
)
def test_the_debug_page_of_a_failed_send_shows_no_secret_or_password(
    debug_page, settings, view: str, accept: str, shown: list[str]
) -> None:
    page = debug_page(view, accept)
    # The page is the full report: the traceback, and in HTML each frame's locals, the settings
    # and request.META.
    if accept == "text/html":
        assert all(text in page for text in shown), [t for t in shown if t not in page]
    assert "PUSHWORKER_BROKER_URL" in page and "redis:6379/0" in page
    leaked = [secret for secret in _secrets(settings) if secret in page]
    assert not leaked


def test_without_the_filter_the_page_would_list_environment_passwords(debug_page, settings):
    # The control: Django's own filter masks REDIS_PASSWORD by its name, but not the same
    # password inside PUSHWORKER_BROKER_URL; so the test above catches a filter left unused.
    from django.views.debug import get_default_exception_reporter_filter

    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    get_default_exception_reporter_filter.cache_clear()
    try:
        page = debug_page("refused", "text/html")
    finally:
        get_default_exception_reporter_filter.cache_clear()
    assert REDIS_PASSWORD in page and POSTGRES_PASSWORD in page
