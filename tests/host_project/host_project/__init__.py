"""A shop's Django project that adopted pushworker by following the README, nothing more."""

from host_project.celery import app as celery_app

__all__ = ("celery_app",)
