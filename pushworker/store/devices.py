"""The one writer of device rows: register (an upsert), list, deactivate, prune.

Callers are the device API, the command line and the delivery engine; the rules live here once:
- a registration id is unique per app: registering it again updates its row, also when another
  user registers it (the phone changed hands), and an inactive device becomes active again;
- without a registration id the device is an alias device, one per (app, user, platform,
  environment);
- Xiaomi's "unknown target" answers (20301, ``bad_regids``) deactivate a device;
- a device inactive for longer than the operator keeps them is pruned (``device prune``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from pushworker.events import text
from pushworker.store.models import Environment, Platform, PushDevice


@dataclass(frozen=True)
class Registration:
    """What a phone tells about itself; checked by the caller (the API's serializer)."""

    user_id: str
    platform: str
    app_name: str
    registration_id: str = ""
    alias: str = ""
    ios_environment: str = Environment.PRODUCTION


def register(registration: Registration) -> tuple[PushDevice, bool]:
    """Create or update the device; returns it and whether it was created.

    Concurrent registrations of the same device end in one row: the database constraints
    (migration 0004) refuse the second insert and ``update_or_create`` then updates instead.
    """
    environment = (
        registration.ios_environment
        if registration.platform == Platform.IOS
        else Environment.PRODUCTION  # Android has no sandbox
    )
    state = {
        "is_active": True,
        "deactivated_reason": "",
        "deactivated_at": None,
        "alias": registration.alias,
    }
    if registration.registration_id:
        return PushDevice.objects.update_or_create(
            app_name=registration.app_name,
            registration_id=registration.registration_id,
            defaults=state
            | {
                "user_id": registration.user_id,
                "os_type": registration.platform,
                "ios_environment": environment,
            },
        )
    return PushDevice.objects.update_or_create(
        app_name=registration.app_name,
        user_id=registration.user_id,
        os_type=registration.platform,
        ios_environment=environment,
        registration_id="",
        defaults=state,
    )


def of_user(user_id: str, app_name: str | None = None) -> QuerySet[PushDevice]:
    """The user's devices, newest change first; every app's unless ``app_name`` is given."""
    devices = PushDevice.objects.filter(user_id=user_id)
    if app_name:
        devices = devices.filter(app_name=app_name)
    return devices.order_by("-modify_time", "-pk")


def prune(inactive_days: int, *, dry_run: bool = False) -> int:
    """Delete inactive devices deactivated more than ``inactive_days`` days ago; how many.

    ``dry_run`` only counts. An active device is never pruned, whatever its age: a device
    re-registered since its deactivation is active again and has no deactivation time.
    """
    cutoff = timezone.now() - timedelta(days=inactive_days)
    old = PushDevice.objects.filter(is_active=False, deactivated_at__lt=cutoff)
    if dry_run:
        return old.count()
    _, per_model = old.delete()
    return per_model.get(PushDevice._meta.label, 0)


def active_of(recipients: Iterable[str], app_name: str) -> dict[str, list[PushDevice]]:
    """Every recipient's devices that may be sent to, most recently changed first (one query)."""
    found: dict[str, list[PushDevice]] = {}
    for device in PushDevice.objects.filter(
        user_id__any=list(set(recipients)), app_name=app_name, is_active=True
    ).order_by("-modify_time"):
        found.setdefault(device.user_id, []).append(device)
    return found


def deactivate(device_ids: Iterable[int], reason: str, regids: Any = None) -> int:
    """Stop sending to devices Xiaomi called invalid (given ``regids``: those of them with one)."""
    wanted = Q() if regids is None else Q(registration_id__in=list(regids))
    return PushDevice.objects.filter(wanted, pk__any=list(device_ids), is_active=True).update(
        is_active=False,
        deactivated_reason=text.one_line(reason, 255),
        deactivated_at=timezone.now(),
    )
