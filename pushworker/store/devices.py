"""The device registry: register a phone (an upsert), list a user's phones, unregister one.

Callers are the device API and the command line; the rules live here once:
- a registration id is unique per app: registering it again updates its row, also when another
  user registers it (the phone changed hands), and an inactive device becomes active again;
- without a registration id the device is an alias device, one per (app, user, platform,
  environment);
- a device inactive for longer than the operator keeps them is pruned (``device prune``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

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
