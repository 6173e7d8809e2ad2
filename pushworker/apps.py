"""Django app configuration for pushworker."""

from django.apps import AppConfig


class PushworkerConfig(AppConfig):
    name = "pushworker"
    verbose_name = "Push delivery"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pushworker import checks  # noqa: F401 - registers the settings checks
