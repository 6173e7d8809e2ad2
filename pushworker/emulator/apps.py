"""The apps an emulator accepts (secret, package, platform), from arguments or the environment."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ANDROID = "android"
IOS = "ios"
PLATFORMS = (ANDROID, IOS)

# The same variable names the worker reads, so a worker and an emulator started with one
# environment agree on the credentials without any extra wiring.
ENV_APPS = (
    (ANDROID, "MIPUSH_ANDROID_APP_SECRET", "MIPUSH_ANDROID_PACKAGE_NAME"),
    (IOS, "MIPUSH_IOS_APP_SECRET", "MIPUSH_IOS_BUNDLE_ID"),
)


@dataclass(frozen=True)
class EmulatorApp:
    """One registered app. `package` is the Android package name or the iOS bundle id."""

    secret: str = field(repr=False)
    package: str
    platform: str

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise ValueError(
                f"EmulatorApp.platform must be one of {PLATFORMS}, got {self.platform!r}"
            )
        if not self.secret:
            raise ValueError("EmulatorApp.secret must not be empty")
        if not self.package:
            raise ValueError("EmulatorApp.package must not be empty")

    def describe(self) -> str:
        """A log-safe one-line summary; the secret is masked."""
        return f"{self.platform} app {self.package} (secret {mask_secret(self.secret)})"


def mask_secret(secret: str) -> str:
    """Hide a secret entirely, keeping only its length as a hint for debugging mismatches."""
    return f"<{len(secret)} chars>"


def apps_from_env(environ: Mapping[str, str] | None = None) -> list[EmulatorApp]:
    """Build the apps from the worker's environment variables.

    A platform whose two variables are both unset is skipped; one set without the other is an
    error naming the missing key. No app at all is an error too: an emulator that refuses every
    request with 21301 would only surface the mistake much later, as a confusing auth failure.
    """
    env = os.environ if environ is None else environ
    apps: list[EmulatorApp] = []
    for platform, secret_key, package_key in ENV_APPS:
        secret, package = env.get(secret_key, ""), env.get(package_key, "")
        if not secret and not package:
            continue
        if not secret or not package:
            missing = secret_key if not secret else package_key
            present = package_key if not secret else secret_key
            raise ValueError(f"{missing} is not set but {present} is; set both or neither")
        apps.append(EmulatorApp(secret=secret, package=package, platform=platform))
    if not apps:
        names = ", ".join(f"{s} + {p}" for _, s, p in ENV_APPS)
        raise ValueError(f"no emulator apps: pass apps= or set {names}")
    return apps


def index_apps(apps: Iterable[EmulatorApp]) -> dict[str, EmulatorApp]:
    """Map secret -> app, refusing duplicate secrets (a secret identifies exactly one app)."""
    by_secret: dict[str, EmulatorApp] = {}
    for app in apps:
        if app.secret in by_secret:
            raise ValueError(f"two emulator apps share one secret: {app.describe()}")
        by_secret[app.secret] = app
    return by_secret
