"""The shop's own Celery app, as Celery's Django guide writes it, plus pushworker's one line."""

import os

from celery import Celery

import pushworker.broker.install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host_project.settings")

app = Celery("host_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
pushworker.broker.install.install(app)
app.autodiscover_tasks()
