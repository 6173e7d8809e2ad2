"""System checks of the standalone service's Django settings (pushworker.settings only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

STANDALONE_SETTINGS = "pushworker.settings"


@checks.register(checks.Tags.security)
def secret_key_is_set(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The standalone service does not start with DEBUG off and no PUSHWORKER_SECRET_KEY.

    A host project's settings are its own business: this check stays silent for them.
    """
    if settings.SETTINGS_MODULE != STANDALONE_SETTINGS or settings.DEBUG:
        return []
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        key = ""
    if key:
        return []
    return [checks.Error(
        "PUSHWORKER_SECRET_KEY is not set and DEBUG is off",
        hint="set PUSHWORKER_SECRET_KEY to a long random value (python -c 'import secrets; "
             "print(secrets.token_urlsafe(50))'); it signs admin sessions",
        id="pushworker.E001",
    )]
