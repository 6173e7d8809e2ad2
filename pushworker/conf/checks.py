"""Django system checks of pushworker's settings: ``manage.py check`` names every bad key.

Django runs these before ``runserver``, ``migrate`` and every command that checks, so a misspelt
key or an inconsistent timeout fails the deploy instead of the first ``delay()`` (a 500).
"""

from __future__ import annotations

import os
from typing import Any

from django.core import checks

from pushworker import conf
from pushworker.conf import env as conf_env


@checks.register("pushworker")
def check_settings(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """E001 per bad key; W001 per missing secret; W002/W003 for variables or settings ignored."""
    spec = conf.host_spec()
    _, problems = conf.inspect(spec=spec)
    found: list[checks.CheckMessage] = []
    for problem in problems:
        if problem.credentials:
            found.append(
                checks.Warning(
                    str(problem),
                    hint="web processes can enqueue, but a worker refuses to start without it",
                    obj=problem.key,
                    id="pushworker.W001",
                )
            )
        else:
            found.append(checks.Error(str(problem), obj=problem.key, id="pushworker.E001"))
    if spec is not None:
        ignored = conf_env.ignored(os.environ)
        if ignored:
            found.append(
                checks.Warning(
                    f"environment variables {', '.join(ignored)} are ignored: settings.PUSHWORKER "
                    "is set, and it is the whole configuration",
                    hint="move their values into settings.PUSHWORKER, or unset them",
                    id="pushworker.W002",
                )
            )
    found += _django_settings_never_read()
    return found


@checks.register("pushworker")
def check_retention(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """pushworker.E003 per bad key of ``PUSHWORKER['RETENTION']`` (pushworker/conf/retention.py)."""
    from pushworker.conf import retention

    settings, _problems = conf.inspect(spec=conf.host_spec())
    try:
        retention.load(retention.spec_of_process(), settings=settings)
    except retention.RetentionError as error:
        return [checks.Error(problem, id="pushworker.E003") for problem in error.problems]
    return []


def _django_settings_never_read() -> list[checks.CheckMessage]:
    """pushworker.W003: a Django setting named like a variable (settings.MIPUSH_PRODUCTION_URL)."""
    from django.conf import settings

    found = []
    for name in sorted(dir(settings)):
        key = conf_env.key_of(name)
        if key:
            found.append(
                checks.Warning(
                    f"settings.{name} is not read by pushworker",
                    hint=f"set {key} in settings.PUSHWORKER instead",
                    obj=name,
                    id="pushworker.W003",
                )
            )
    return found


STANDALONE_SETTINGS = "pushworker.settings"


@checks.register(checks.Tags.security)
def secret_key_is_set(app_configs: Any = None, **_: Any) -> list[checks.CheckMessage]:
    """pushworker.E002: the standalone service does not start with DEBUG off and no secret key.

    A host project's settings are its own business: this check stays silent for them.
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if settings.SETTINGS_MODULE != STANDALONE_SETTINGS or settings.DEBUG:
        return []
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        key = ""
    if key:
        return []
    return [
        checks.Error(
            "PUSHWORKER_SECRET_KEY is not set and DEBUG is off",
            hint="set PUSHWORKER_SECRET_KEY to a long random value (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'); it signs admin sessions",
            id="pushworker.E002",
        )
    ]
