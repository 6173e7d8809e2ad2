"""``manage.py pushworker_emulator``: the local Xiaomi emulator, serving the host project's apps.

The apps, secrets and packages come from the host's ``PUSHWORKER`` setting (or the environment,
for the standalone service), so a worker and an emulator started from one project agree without
extra wiring. Point ``PRODUCTION_URL`` and ``SANDBOX_URL`` at the printed URLs.
"""

from __future__ import annotations

import argparse

from django.core.management.base import BaseCommand, CommandError

from pushworker import conf
from pushworker.emulator.apps import EmulatorApp
from pushworker.emulator.cli import add_arguments, run


def emulator_apps(settings: conf.Settings) -> list[EmulatorApp]:
    """One emulator app per configured platform that has a secret."""
    apps = []
    for app in settings.apps.values():
        for platform in ("android", "ios"):
            credentials = app.credentials(platform)
            if credentials and credentials.secret.value:
                apps.append(
                    EmulatorApp(
                        secret=credentials.secret.value,
                        package=credentials.package,
                        platform=platform,
                    )
                )
    return apps


class Command(BaseCommand):
    help = "Run the local Xiaomi Push emulator for the apps in settings.PUSHWORKER."

    def add_arguments(self, parser) -> None:
        add_arguments(parser)

    def handle(self, *args, **options) -> None:
        conf.get.cache_clear()
        try:
            apps = emulator_apps(conf.get())
        except conf.SettingsError as error:
            raise CommandError(str(error)) from None
        if not apps:
            raise CommandError("no app in settings.PUSHWORKER has a secret for the emulator")
        code = run(argparse.Namespace(**options), apps=apps)
        if code:
            raise CommandError(f"the emulator could not start (exit status {code})")
