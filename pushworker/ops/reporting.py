"""What Django's error reports may show: credentials masked by name, inside URLs and in locals.

Django's own filter masks settings and request.META entries whose *names* look secret, and frame
locals only in functions marked `@sensitive_variables`. That leaves three holes this filter closes:

* a password inside a URL (`PUSHWORKER_DATABASE_URL`, `PUSHWORKER_BROKER_URL`, a DSN in a
  setting): the URL's user-info and password-like query parameters are masked wherever a report
  shows a string (settings, request.META, frame locals);
* environment variables: under `runserver` (and any server on wsgiref) request.META is a copy of
  os.environ, so `REDIS_PASSWORD`, `PGPASSWORD` or `FLOWER_BASIC_AUTH` would be listed; the name
  pattern is widened to the names credentials go by in environments;
* frame locals named like a secret (`app_secret`, `password`, `security` of the old SDK's sender)
  are masked in every frame, not only in decorated ones.

Use it in a host project with
`DEFAULT_EXCEPTION_REPORTER_FILTER = "pushworker.ops.reporting.CredentialsFilter"`.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

from pushworker.conf.redaction import SUBSTITUTE, mask_url_credentials

# Django's names (API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE) plus environment spellings.
CREDENTIAL_NAMES = re.compile(
    r"API|TOKEN|KEY|SECRET|PASS|PWD|SIGNATURE|AUTH|CREDENTIAL|COOKIE|SESSION|DSN", re.IGNORECASE
)
# Locals are named freely (`key` in a loop is common), so only unmistakable names are masked.
CREDENTIAL_LOCALS = re.compile(
    r"secret|passw|pwd|token|credential|api_?key|security|signature|authorization", re.IGNORECASE
)


class _Shown:
    """A value replaced by its masked repr: the report prints it as it is."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


class CredentialsFilter(SafeExceptionReporterFilter):
    """SafeExceptionReporterFilter that also masks URL credentials, environment and locals."""

    hidden_settings = CREDENTIAL_NAMES
    cleansed_substitute = SUBSTITUTE

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        return mask_url_credentials(cleansed) if isinstance(cleansed, str) else cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [
            (name, self._cleanse_local(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    def _cleanse_local(self, name: Any, value: Any) -> Any:
        if isinstance(name, str) and CREDENTIAL_LOCALS.search(name):
            return SUBSTITUTE
        if isinstance(value, str):
            return mask_url_credentials(value)
        try:
            text = repr(value)
        except Exception:  # the report prints its own note for a broken repr
            return value
        masked = mask_url_credentials(text)
        return value if masked == text else _Shown(masked)
