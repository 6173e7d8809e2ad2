"""``manage.py pushworker_check``: a host project's effective pushworker configuration, masked."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from pushworker import conf


class Command(BaseCommand):
    help = "Print pushworker's configuration, secrets masked; fail if a worker could not start."

    def handle(self, *args, **options) -> None:
        conf.get.cache_clear()
        try:
            settings = conf.get()
        except conf.SettingsError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(json.dumps(settings.describe(), indent=2, ensure_ascii=False))
        if settings.credential_problems:
            raise CommandError(
                "a worker would refuse to start:\n  - "
                + "\n  - ".join(settings.credential_problems)
            )
