"""The shop's own Celery app, as Celery's Django guide writes it, plus pushworker's one line."""

import os

from celery import Celery

import pushworker.integration

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host_project.settings")

app = Celery("host_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
pushworker.integration.install(app)
app.autodiscover_tasks()
