"""Dead letters in the admin: broker messages no worker could read, kept read-only for a human."""

from __future__ import annotations

from django.contrib import admin

from pushworker.store.models import DeadLetter
from pushworker.web.admin import display
from pushworker.web.admin.deliveries import ReadOnlyAdmin


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ("received", "reason", "task_name", "task_id")
    search_fields = ("reason", "task_name", "=task_id")
    search_help_text = "Words of the reason or the task name, or an exact task id."
    ordering = ("-received_at",)

    @admin.display(description="received", ordering="received_at")
    def received(self, letter: DeadLetter) -> str:
        return display.when(letter.received_at)
