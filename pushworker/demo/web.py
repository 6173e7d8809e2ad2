"""The web side, played by the demo's process: the database, the devices, the burst of events."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pushworker.demo.scenario import INJECTED_FAULTS, Event, Owner
from pushworker.demo.settings import ALIAS_PREFIX, APP_NAME

if TYPE_CHECKING:
    from pushworker.emulator import Emulator


def migrate(database: Path, step: Callable[[str], None]) -> None:
    """Set Django up from the demo's environment and create the tables in its fresh database."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import pushworker.celery  # noqa: F401 - the standalone app publishes for the "web" side

    step(f"database migrated: {database}")


def register(owners: dict[str, Owner], emulator: Emulator) -> None:
    """Store the owners' devices and tell the emulator which targets it knows and what fails."""
    from pushworker.emulator import Faults
    from pushworker.store.models import PushDevice

    known: list[str] = []
    for owner in owners.values():
        for device in owner.devices:
            PushDevice.objects.create(
                user_id=owner.user_id,
                app_name=APP_NAME,
                os_type=device.os_type,
                registration_id=device.registration_id,
                ios_environment=device.environment,
            )
            if not owner.stale:
                known.append(device.registration_id or f"{ALIAS_PREFIX}{owner.user_id}")
    emulator.set_known_targets(known)
    flaky = next(o for o in owners.values() if o.flaky)
    emulator.set_faults(Faults(script=INJECTED_FAULTS, target=f"{ALIAS_PREFIX}{flaky.user_id}"))


def enqueue(events: list[Event], step: Callable[[str], None]) -> None:
    """``send_goods_visit.delay()`` each event, as a view would; fills in its id and timings."""
    from pushworker.tasks import send_goods_visit

    for event in events:
        event.enqueued_at = time.time()
        start = time.perf_counter()
        result = send_goods_visit.delay(
            owner_id=event.owner.user_id,
            visitor_id=event.visitor_id,
            goods_id=event.goods_id,
            goods_name=event.goods_name,
            visitor_name=event.visitor_name,
            app_name=APP_NAME,
        )
        event.enqueue_seconds = time.perf_counter() - start
        event.event_id = result.id
    total = sum(e.enqueue_seconds for e in events)
    step(
        f"enqueued {len(events)} goods-visit events with send_goods_visit.delay() "
        f"in {total * 1000:.0f} ms"
    )
