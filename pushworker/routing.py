"""Device → send unit: which platform, host, credentials and Xiaomi target reach a phone. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pushworker.conf import AppSettings, PlatformCredentials


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
        """Identifies the unit across retries, so a unit already sent is never sent again."""
        return f"{self.platform}/{self.environment}/{self.target_type}:{','.join(self.targets)}"[
            :255
        ]


def environment_of(device: DeviceLike) -> str:
    # Xiaomi's sandbox serves iOS only; Android always goes to production.
    return device.ios_environment if device.os_type == "ios" else "production"


def target_of(device: DeviceLike, app: AppSettings) -> tuple[str, str]:
    """The device's registration id if any, else its alias (``<prefix><user_id>`` by default)."""
    if device.registration_id:
        return "regid", device.registration_id
    return "alias", device.alias or f"{app.alias_prefix}{device.user_id}"


def plan(devices: Iterable[DeviceLike], app: AppSettings) -> list[SendUnit]:
    """Group devices into the fewest requests; the same target is never sent twice in one event."""
    groups: dict[tuple[str, str, str], dict[str, list[int]]] = {}
    for device in devices:
        target_type, target = target_of(device, app)
        key = (device.os_type, environment_of(device), target_type)
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
        for (platform, environment, target_type), targets in sorted(groups.items())
    ]
