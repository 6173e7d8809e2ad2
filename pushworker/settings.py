"""Django settings for running pushworker on its own, read from the environment.

A host project does not use this module: it adds ``"pushworker"`` to its own ``INSTALLED_APPS``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def _default_database_url() -> str:
    path = (
        Path(os.environ.get("PUSHWORKER_HOME", Path.cwd() / "var")).resolve() / "pushworker.sqlite3"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _seconds(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit():
        raise ImproperlyConfigured(f"{name} must be a whole number of seconds, got {text!r}")
    return int(text)


# Not a setting (lower case): Django would list an upper-case name on its DEBUG page.
_database_url = os.environ.get("PUSHWORKER_DATABASE_URL") or _default_database_url()
_database = dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
if _database["ENGINE"].endswith("sqlite3"):
    # Web, worker and beat processes write the same file: wait for the lock instead of failing,
    # and take it up front so two writers never deadlock upgrading a read lock.
    _database["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _database["CONN_MAX_AGE"] = 0
DATABASES = {"default": _database}

DEBUG = os.environ.get("PUSHWORKER_DEBUG", "") == "1"
# Only signs admin sessions of the standalone service; a host project brings its own key. There
# is no public fallback: with DEBUG on a missing key is made up per process (sessions end with
# it); with DEBUG off it stays empty, Django refuses to sign anything with it, and the check
# pushworker.E002 stops runserver and every management command that runs checks.
SECRET_KEY = os.environ.get("PUSHWORKER_SECRET_KEY", "") or (
    secrets.token_urlsafe(50) if DEBUG else ""
)
ALLOWED_HOSTS = [
    h for h in os.environ.get("PUSHWORKER_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h
]
# Masks credentials in URLs, environment variables and frame locals on the DEBUG page and in
# error mails (see pushworker/ops/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "pushworker.ops.reporting.CredentialsFilter"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "pushworker",
]
MIDDLEWARE = [
    # First: every line a request causes, and every event it enqueues, carries its request id.
    "pushworker.web.requestid.RequestIdMiddleware",
    # Every error answer under /api/ becomes JSON, whichever layer inside made it.
    "pushworker.web.api.errors.JsonErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "pushworker.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"

# With DEBUG off the admin is served for HTTPS only: secure cookies, HSTS, no framing
# (docs/security.md explains what `manage.py check --deploy` still reports). The redirect from
# HTTP is left to the TLS proxy in front unless PUSHWORKER_SSL_REDIRECT=1: the health endpoint
# and the containers' own checks speak plain HTTP inside the network.
# PUSHWORKER_PROXY_SSL_HEADER=1 only behind a proxy that sets X-Forwarded-Proto itself (else a
# client could claim HTTPS).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = not DEBUG and os.environ.get("PUSHWORKER_SSL_REDIRECT", "") == "1"
# Asked over plain HTTP inside the network: the containers' health checks, Prometheus' scrapes.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = 0 if DEBUG else _seconds("PUSHWORKER_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
if os.environ.get("PUSHWORKER_PROXY_SSL_HEADER", "") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The Celery app delay() publishes through, imported when Django starts (pushworker/apps.py): a
# process that only calls django.setup() and delay() publishes to PUSHWORKER_BROKER_URL.
PUSHWORKER_CELERY_APP = "pushworker.celery"

# One line per record, JSON unless PUSHWORKER_LOG_FORMAT=text or stderr is a terminal; warnings
# are records too (pushworker.ops.logs.configure). The root logger takes every other library's
# lines (Django's request errors, py.warnings); Celery's own lines get the same format from
# pushworker.broker.celerylogs, gunicorn's from pushworker.web.server.
LOGGING_CONFIG = "pushworker.ops.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "fields": {
            "()": "pushworker.ops.logs.formatter",  # PUSHWORKER_LOG_FORMAT: json | text
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "filters": {
        "correlation": {"()": "pushworker.ops.logs.CorrelationFilter"},
        "request_lines": {"()": "pushworker.web.masking.RequestLineFilter"},  # device tokens
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "fields",
            "filters": ["correlation", "request_lines"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "pushworker": {
            "handlers": ["console"],
            "level": os.environ.get("PUSHWORKER_LOG_LEVEL", "INFO"),
            "propagate": False,
        },
        # One INFO line per HTTP request duplicates pushworker's own line, which has the ids.
        "httpx": {"level": "WARNING"},
        # Every 500 with its traceback, in pushworker's format, paths masked (a 4xx is the access
        # log's: Django's own lines for them would repeat it, and carry the path unmasked).
        "django.request": {
            "handlers": ["console"],
            "level": "ERROR",
            "propagate": False,
        },
    },
}

# --- pushworker web: static files, the device API (engineer H6) --------------------------------
# The admin's CSS and JS are served by WhiteNoise inside the WSGI process (gunicorn), straight
# from the installed apps' static folders: no collectstatic step, no writable folder, no runserver.
INSTALLED_APPS += ["django.contrib.staticfiles"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "whitenoise.middleware.WhiteNoiseMiddleware",
)
WHITENOISE_USE_FINDERS = True
MIDDLEWARE.append("pushworker.web.metrics.ApiMetricsMiddleware")  # pushworker_api_requests_total
# The shop's backend calls the device API with "Authorization: Bearer <token>"; unset, the API
# refuses every call. Django's error pages mask settings named like this one.
PUSHWORKER_API_TOKEN = os.environ.get("PUSHWORKER_API_TOKEN", "")
# --- end of pushworker web ------------------------------------------------------------------------
