"""Device → send unit: which platform, host, credentials and Xiaomi target reach a phone. Pure."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pushworker.conf import AppSettings, PlatformCredentials
from pushworker.store.attempts import target_key


class DeviceLike(Protocol):
    pk: int
    user_id: str
    os_type: str
    registration_id: str
    alias: str
    ios_environment: str


@dataclass(frozen=True)
class SendUnit:
    """One request to Xiaomi: every target in it shares platform, environment and target type."""

    platform: str  # "android" | "ios"
    environment: str  # "production" | "sandbox"
    target_type: str  # "alias" | "regid"
    targets: tuple[str, ...]
    device_ids: tuple[int, ...]
    credentials: PlatformCredentials | None  # None: this app has no sender for the platform

    @property
    def key(self) -> str:
        """Identifies the unit in its attempts: a digest of its whole target list, never cut."""
        digest = hashlib.sha256("\n".join(self.targets).encode("utf-8")).hexdigest()
        return f"{self.platform}/{self.environment}/{self.target_type}:{digest}"

    @property
    def target_keys(self) -> frozenset[str]:
        """One key per target: what a later run checks, so a target Xiaomi took is never resent."""
        return frozenset(
            target_key(self.platform, self.environment, self.target_type, t) for t in self.targets
        )


# What Xiaomi's client refuses in a target before any request (mipush/wire.py checks the same).
_UNSENDABLE = re.compile(r"[,\x00-\x1f\x7f-\x9f]")


def sendable(target: str) -> bool:
    """Whether the client would take ``target``; devices are validated where they enter, but rows
    written before that (or by hand) may still hold a comma or a control character."""
    return bool(target.strip()) and target == target.strip() and not _UNSENDABLE.search(target)


def environment_of(device: DeviceLike) -> str:
    # Xiaomi's sandbox serves iOS only; Android always goes to production.
    return device.ios_environment if device.os_type == "ios" else "production"


def target_of(device: DeviceLike, app: AppSettings) -> tuple[str, str]:
    """The device's registration id if any, else its alias (``<prefix><user_id>`` by default)."""
    if device.registration_id:
        return "regid", device.registration_id
    return "alias", device.alias or f"{app.alias_prefix}{device.user_id}"


def plan(
    devices: Iterable[DeviceLike], app: AppSettings, *, skip: frozenset[str] = frozenset()
) -> list[SendUnit]:
    """Group devices into the fewest requests; the same target is never sent twice in one event.

    ``skip``: target keys an earlier run of the event already had accepted. The device set may
    change between retries (a phone registered, one deactivated); planning again from the current
    devices minus those targets sends to every new target once and to no accepted one again.
    """
    groups: dict[tuple[str, str, str, str], dict[str, list[int]]] = {}
    for device in devices:
        target_type, target = target_of(device, app)
        environment = environment_of(device)
        if target_key(device.os_type, environment, target_type, target) in skip:
            continue
        # A target the client refuses goes alone: its unit fails, the others are still sent.
        alone = "" if sendable(target) else target
        key = (device.os_type, environment, target_type, alone)
        groups.setdefault(key, {}).setdefault(target, []).append(device.pk)
    return [
        SendUnit(
            platform=platform,
            environment=environment,
            target_type=target_type,
            targets=tuple(sorted(targets)),
            device_ids=tuple(sorted(pk for pks in targets.values() for pk in pks)),
            credentials=app.credentials(platform),
        )
        for (platform, environment, target_type, _), targets in sorted(groups.items())
    ]
