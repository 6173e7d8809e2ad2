"""The environment the unit tests configure pushworker with: credentials and fast retries."""

from __future__ import annotations

from tests.support.emulator import ANDROID_PACKAGE, ANDROID_SECRET, IOS_BUNDLE, IOS_SECRET

__all__ = ["ANDROID_PACKAGE", "ANDROID_SECRET", "IOS_BUNDLE", "IOS_SECRET", "emulator_env"]

# Small numbers so quick retries finish in milliseconds; conf checks that they fit together.
FAST = {
    "PUSHWORKER_QUICK_BASE": "0.001",
    "PUSHWORKER_QUICK_BUDGET": "1",
    "PUSHWORKER_ENQUEUE_BUDGET_MS": "100",
    "PUSHWORKER_BREAKER_COOLDOWN": "0.2",
    # Unit tests of the middle send many visits to one owner; tests/unit/test_policy.py turns the
    # delivery policy on where it is the subject.
    "PUSHWORKER_POLICY": "off",
}
CREDENTIALS = {
    "MIPUSH_ANDROID_APP_SECRET": ANDROID_SECRET,
    "MIPUSH_ANDROID_PACKAGE_NAME": ANDROID_PACKAGE,
    "MIPUSH_IOS_APP_SECRET": IOS_SECRET,
    "MIPUSH_IOS_BUNDLE_ID": IOS_BUNDLE,
}


def emulator_env(server, **changes: str) -> dict[str, str]:
    """The environment of a worker sending to ``server``, with ``changes`` on top."""
    return {
        **CREDENTIALS,
        **FAST,
        "MIPUSH_PRODUCTION_URL": server.production_url,
        "MIPUSH_SANDBOX_URL": server.sandbox_url,
        **changes,
    }
