"""The demo's environment: fast retry and timeout numbers, demo apps, nothing from the shell."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pushworker.emulator import Emulator

ANDROID_PACKAGE = "com.example.shop"
IOS_BUNDLE = "com.example.shop.ios"
APP_NAME = "qqc"
ALIAS_PREFIX = "QQC_"

# Small numbers so an injected failure is retried within a second and a crashed run is recovered
# within seconds; the demo and the integration and fault tests (tests/support/stack.py) run on
# them. pushworker.conf refuses numbers that do not fit together. These do, barely: one task run
# with margin is 2 attempts x (1 s connect + 3 s read) + 0.5 s quick budget + 2 s = 10.5 s, and
# with the 2 s retry cap it must stay below the visibility timeout (12.5 < 13), which must also be
# at least twice the cap. Changing one number may mean changing the visibility timeout too.
FAST_SETTINGS = {
    "PUSHWORKER_VISIBILITY_TIMEOUT": "13",
    "MIPUSH_CONNECT_TIMEOUT": "1",
    "MIPUSH_READ_TIMEOUT": "3",
    "PUSHWORKER_QUICK_ATTEMPTS": "2",
    "PUSHWORKER_QUICK_BUDGET": "0.5",
    "PUSHWORKER_QUICK_BASE": "0.05",
    "PUSHWORKER_RETRY_BASE": "0.2",
    "PUSHWORKER_RETRY_THROTTLED_BASE": "0.5",
    "PUSHWORKER_RETRY_CAP": "2",
    # An outage is probed every 0.2 s at first, every 2 s at most: seconds, not half a minute.
    "PUSHWORKER_OUTAGE_PROBE_FIRST": "0.2",
    "PUSHWORKER_OUTAGE_PROBE_LONGEST": "2",
    "PUSHWORKER_STALE_AFTER": "6",
    "PUSHWORKER_RELAY_INTERVAL": "0.5",
    "PUSHWORKER_SWEEP_INTERVAL": "1",
    "PUSHWORKER_BREAKER_COOLDOWN": "1",
    "PUSHWORKER_LOG_LEVEL": "INFO",
    # The demo and the fault scenarios send many visits to one owner and count every push: the
    # delivery policy (dedup, daily cap; docs/policy.md) would hold most of them back.
    "PUSHWORKER_POLICY": "off",
}


def configure(
    workdir: Path,
    broker_url: str,
    emulator: Emulator,
    android_secret: str,
    ios_secret: str,
) -> dict[str, str]:
    """Set this process's environment and return the worker's: the same demo values for both.

    Any PUSHWORKER_*/MIPUSH_* variable of the caller is dropped so the demo can never reach
    a real database or the real Xiaomi, whatever the shell exports.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHWORKER_", "MIPUSH_"))}
    env.update(FAST_SETTINGS)
    env.update(
        {
            "PUSHWORKER_APP_NAME": APP_NAME,
            "PUSHWORKER_ALIAS_PREFIX": ALIAS_PREFIX,
            "PUSHWORKER_ENQUEUE_OUTBOX": "always",
            "DJANGO_SETTINGS_MODULE": "pushworker.settings",
            "PUSHWORKER_HOME": str(workdir),
            "PUSHWORKER_DATABASE_URL": f"sqlite:///{workdir / 'pushworker.sqlite3'}",
            "PUSHWORKER_BEAT_SCHEDULE": str(workdir / "celerybeat-schedule"),
            "PUSHWORKER_BROKER_URL": broker_url,
            "PUSHWORKER_SECRET_KEY": secrets.token_urlsafe(32),
            "MIPUSH_ANDROID_APP_SECRET": android_secret,
            "MIPUSH_ANDROID_PACKAGE_NAME": ANDROID_PACKAGE,
            "MIPUSH_IOS_APP_SECRET": ios_secret,
            "MIPUSH_IOS_BUNDLE_ID": IOS_BUNDLE,
            "MIPUSH_PRODUCTION_URL": emulator.production_url,
            "MIPUSH_SANDBOX_URL": emulator.sandbox_url,
            "PYTHONUNBUFFERED": "1",
        }
    )
    # A source checkout (or editable install) keeps celeryconfig.py next to the package.
    source_root = Path(__file__).resolve().parents[2]
    if (source_root / "celeryconfig.py").exists():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source_root), env.get("PYTHONPATH")]))
    os.environ.clear()
    os.environ.update(env)
    return env
