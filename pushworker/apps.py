"""Django app configuration for pushworker."""

from django.apps import AppConfig


class PushworkerConfig(AppConfig):
    name = "pushworker"
    verbose_name = "Push delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.apps import apps

        from pushworker.conf import checks  # noqa: F401 - registers the settings checks
        from pushworker.store import lookups  # noqa: F401 - registers field__any

        if apps.is_installed("django.contrib.admin"):
            from pushworker.web import admin  # noqa: F401 - registers the model admins
