"""Specifies the standalone Django settings: masked credentials, HTTPS-only, a required key."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from pushworker.ops.reporting import CredentialsFilter

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "pushworker" / "settings.py"
KEY = "k" * 10 + "-long-random-key-for-tests-only-0123456789abcdefghij"


def _settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, object]:
    for name in list(os.environ):
        if name.startswith("PUSHWORKER_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {k: v for k, v in runpy.run_path(str(SETTINGS)).items() if k.isupper()}


def test_no_setting_shows_a_credential_taken_from_the_environment(monkeypatch) -> None:
    values = _settings_with(
        monkeypatch,
        PUSHWORKER_DATABASE_URL="postgres://pushworker:pg-pw-7a8b@db:5432/pushworker",
        PUSHWORKER_SECRET_KEY=KEY,
    )
    assert "DATABASE_URL" not in values  # the URL is read into DATABASES (PASSWORD is masked)
    cleanse = CredentialsFilter().cleanse_setting
    shown = repr({name: cleanse(name, value) for name, value in values.items()})
    assert "pg-pw-7a8b" not in shown and KEY not in shown


def test_with_debug_off_the_admin_is_https_only_and_never_framed(monkeypatch) -> None:
    values = _settings_with(monkeypatch, PUSHWORKER_SECRET_KEY=KEY)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in values["MIDDLEWARE"]
    assert values["SECURE_SSL_REDIRECT"] is False  # the TLS proxy redirects (docs/security.md)
    assert _settings_with(monkeypatch, PUSHWORKER_SSL_REDIRECT="1")["SECURE_SSL_REDIRECT"] is True


def test_with_debug_on_a_missing_key_is_made_up_per_process_never_a_constant(monkeypatch) -> None:
    first = _settings_with(monkeypatch, PUSHWORKER_DEBUG="1")["SECRET_KEY"]
    second = _settings_with(monkeypatch, PUSHWORKER_DEBUG="1")["SECRET_KEY"]
    assert first and second and first != second
    assert _settings_with(monkeypatch)["SECRET_KEY"] == ""  # DEBUG off: nothing to sign with


def test_a_bad_hsts_value_names_the_variable(monkeypatch) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="PUSHWORKER_HSTS_SECONDS"):
        _settings_with(monkeypatch, PUSHWORKER_HSTS_SECONDS="a year")


def test_the_admin_answers_with_x_frame_options_and_hsts_over_https(client) -> None:
    response = client.get("/admin/login/", secure=True)
    assert response["X-Frame-Options"] == "DENY"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def _manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    ours = ("PUSHWORKER_", "DJANGO_", "MIPUSH_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return subprocess.run(
        [sys.executable, "-m", "pushworker.cli", "manage", *args],
        env={**base, "PUSHWORKER_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("command", [["check"], ["runserver", "--noreload", "127.0.0.1:0"]])
def test_the_standalone_service_refuses_to_start_with_debug_off_and_no_secret_key(
    tmp_path, command: list[str]
) -> None:
    result = _manage(tmp_path, *command)
    assert result.returncode != 0
    assert "pushworker.E002" in result.stderr and "PUSHWORKER_SECRET_KEY" in result.stderr


def test_check_deploy_reports_only_what_the_security_page_explains(tmp_path) -> None:
    credentials = {  # a production deployment has them; without, pushworker.W001 says so
        "MIPUSH_ANDROID_APP_SECRET": "android-secret-" + KEY[:20],
        "MIPUSH_ANDROID_PACKAGE_NAME": "com.example.shop",
        "MIPUSH_IOS_APP_SECRET": "ios-secret-" + KEY[:20],
        "MIPUSH_IOS_BUNDLE_ID": "com.example.shop",
    }
    result = _manage(tmp_path, "check", "--deploy", PUSHWORKER_SECRET_KEY=KEY, **credentials)
    assert result.returncode == 0, result.stderr
    reported = set(re.findall(r"\(([\w.]+\.[WE]\d+)\)", result.stdout + result.stderr))
    security = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert reported <= {"security.W008", "security.W021"}, reported
    assert all(f"`{check}`" in security for check in reported)
