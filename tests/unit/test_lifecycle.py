"""Specifies the device lifecycle: bad_regids retire exactly their devices, re-registration brings
them back, and ``pushworker device prune`` deletes what stayed inactive too long."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from pushworker import cli
from pushworker.delivery import sender, service
from pushworker.events import GoodsVisit
from pushworker.store.models import DeliveryStatus, PushDevice

pytestmark = pytest.mark.django_db
TOKEN = "api-token-lifecycle-9c2e"


def visit() -> GoodsVisit:
    return GoodsVisit.from_call(
        owner_id="42", visitor_id="7", goods_id="1001", goods_name="自行车", visitor_name="小明"
    )


def phone(regid: str, **fields) -> PushDevice:
    return PushDevice.objects.create(
        user_id="42", app_name="qqc", os_type="android", registration_id=regid, **fields
    )


def regid_targets(emulator) -> list[tuple[str, ...]]:
    """Each regid request's targets as sent, known to the emulator or not."""
    return [
        tuple(sorted(m["targets"] + m["dropped_targets"]))
        for m in emulator.messages()
        if m["target_type"] == "regid"
    ]


def test_bad_regids_deactivate_only_their_devices_and_the_next_event_skips_them(emulator) -> None:
    kept, gone = phone("regid-kept-1"), phone("regid-gone-1")
    emulator.set_known_targets(["regid-kept-1"])
    assert service.deliver(visit()).status == DeliveryStatus.SENT
    assert regid_targets(emulator) == [("regid-gone-1", "regid-kept-1")]
    kept.refresh_from_db(), gone.refresh_from_db()
    assert kept.is_active and kept.deactivated_at is None
    assert not gone.is_active and gone.deactivated_at is not None
    assert gone.deactivated_reason == sender.BAD_REGID_REASON

    emulator.reset()
    assert service.deliver(visit()).status == DeliveryStatus.SENT
    assert regid_targets(emulator) == [("regid-kept-1",)]


def test_re_registration_through_the_device_api_makes_the_device_receive_again(
    emulator, settings
) -> None:
    settings.PUSHWORKER_API_TOKEN = TOKEN
    phone("regid-kept-1"), phone("regid-gone-1")
    emulator.set_known_targets(["regid-kept-1"])
    service.deliver(visit())
    assert PushDevice.objects.filter(is_active=False).count() == 1

    backend = APIClient()
    backend.credentials(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    answer = backend.post(
        "/api/v1/devices",
        {"user_id": "42", "platform": "android", "registration_id": "regid-gone-1"},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["is_active"] is True
    emulator.set_known_targets(None)
    emulator.reset()
    assert service.deliver(visit()).status == DeliveryStatus.SENT
    assert regid_targets(emulator) == [("regid-gone-1", "regid-kept-1")]


def test_every_regid_unknown_is_still_20301_for_the_whole_unit(emulator) -> None:
    first, _ = phone("regid-a"), phone("regid-b")
    emulator.set_known_targets(["someone-else"])
    assert service.deliver(visit()).status == DeliveryStatus.FAILED
    assert PushDevice.objects.filter(is_active=True).count() == 0
    first.refresh_from_db()
    assert first.deactivated_reason.startswith("Xiaomi 20301")


def test_bad_regids_never_touch_another_apps_device_with_the_same_regid(emulator) -> None:
    phone("regid-kept-1"), phone("regid-gone-1")
    other = PushDevice.objects.create(
        user_id="42", app_name="other", os_type="android", registration_id="regid-gone-1"
    )
    emulator.set_known_targets(["regid-kept-1"])
    service.deliver(visit())
    other.refresh_from_db()
    assert other.is_active


def aged(regid: str, days: float) -> PushDevice:
    return phone(
        regid,
        is_active=False,
        deactivated_reason="Xiaomi 20301",
        deactivated_at=timezone.now() - timedelta(days=days),
    )


def test_prune_deletes_only_inactive_devices_deactivated_more_than_n_days_ago(
    configure, capsys
) -> None:
    configure()
    old, recent, active = aged("old-1", 40), aged("recent-1", 5), phone("active-1")
    assert cli.main(["device", "prune", "--inactive-days", "30", "--dry-run"]) == 0
    assert "would delete 1 inactive device deactivated more than 30 days ago" in (
        capsys.readouterr().out
    )
    assert PushDevice.objects.count() == 3

    assert cli.main(["device", "prune", "--inactive-days", "30"]) == 0
    assert "deleted 1 inactive device " in capsys.readouterr().out
    remaining = set(PushDevice.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, active.pk} and old.pk not in remaining

    assert cli.main(["device", "prune", "--inactive-days", "30"]) == 0
    assert "deleted 0 inactive devices" in capsys.readouterr().out


def test_prune_refuses_a_negative_or_missing_day_count(configure, capsys) -> None:
    configure()
    assert cli.main(["device", "prune", "--inactive-days", "-1"]) == 2
    assert "--inactive-days" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["device", "prune"])
    assert exited.value.code == 2
