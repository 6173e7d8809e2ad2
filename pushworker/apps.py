"""Django app configuration for pushworker."""

from importlib import import_module

from django.apps import AppConfig


class PushworkerConfig(AppConfig):
    name = "pushworker"
    verbose_name = "Push delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps
        from django.conf import settings

        from pushworker.broker import checks as broker_checks  # noqa: F401 - registers checks
        from pushworker.conf import checks  # noqa: F401 - registers the settings checks
        from pushworker.store import lookups  # noqa: F401 - registers field__any

        if apps.is_installed("django.contrib.admin"):
            from pushworker.web import admin  # noqa: F401 - registers the model admins
        # The Celery app that publishes from this process, loaded when Django starts: without it a
        # standalone web process's delay() would find no installed app (and raise). The standalone
        # settings name pushworker.celery; a host may name its own app's module.
        if module := getattr(settings, "PUSHWORKER_CELERY_APP", None):
            import_module(module)
