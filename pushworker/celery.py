"""The standalone Celery app, found by ``celery -A pushworker worker``."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pushworker.settings")

app = Celery("pushworker")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["pushworker"])


@signals.worker_init.connect
def _check_configuration(**_: object) -> None:
    """Refuse to start a worker that could not send: every missing key is named at once."""
    from pushworker import conf

    try:
        conf.get().require_credentials()
    except conf.ConfigurationError as error:
        # SystemExit, because Celery logs and swallows ordinary exceptions from signal handlers.
        raise SystemExit(f"{error}") from error
