"""The delivery policy (delivery.policy) through service.deliver: a real redis-server of its own,
the real emulator over HTTP, and a simulated clock where the day or the hour matters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from django.utils import timezone

from pushworker.conf.parse import parse
from pushworker.delivery import policy, service
from pushworker.events import GoodsVisit, notification
from pushworker.store.models import Delivery, DeliveryStatus, PushDevice
from tests.support.redis_server import RedisServer
from tests.unit.environment import emulator_env

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def client(private_redis: RedisServer) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(private_redis.url)
    connection.flushall()
    policy.use(connection)
    yield connection
    policy.use(None)
    connection.close()


@pytest.fixture
def with_policy(fresh_emulator, configure, client):
    """``with_policy(spec)``: pushworker sending to the emulator with PUSHWORKER_POLICY=spec
    ("" for the shipped defaults)."""

    def apply(spec: str = "") -> object:
        configure(**emulator_env(fresh_emulator, PUSHWORKER_POLICY=spec))
        PushDevice.objects.get_or_create(user_id="42", app_name="qqc", os_type="android")
        return fresh_emulator

    return apply


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr(policy, "clock", lambda: moment)


def visit(visitor: str | None = "7", goods: str = "1001") -> GoodsVisit:
    return GoodsVisit.from_call(
        owner_id="42", visitor_id=visitor, goods_id=goods, goods_name="二手自行车"
    )


def outcomes() -> list[tuple[str, str]]:
    return list(Delivery.objects.order_by("id").values_list("status", "error_category"))


def next_local(hour: int) -> datetime:
    """The next ``hour``:00 in Shanghai after now (in the future: time_to_send must be)."""
    local = datetime.now(SHANGHAI).replace(minute=0, second=0, microsecond=0)
    moment = local.replace(hour=hour)
    return moment if moment > datetime.now(SHANGHAI) else moment + timedelta(days=1)


def test_five_visits_by_one_buyer_to_one_goods_are_one_push(with_policy) -> None:
    emulator = with_policy()
    for _ in range(5):
        service.deliver(visit())
    assert len(emulator.messages()) == 1
    assert outcomes() == [("sent", "")] + [("suppressed", "duplicate")] * 4
    reasons = set(Delivery.objects.values_list("error_reason", flat=True))
    assert reasons == {"", "duplicate of a push sent within 600 s"}  # no id: a metric label


def test_a_visit_held_back_by_the_cap_does_not_make_the_next_one_a_duplicate(
    with_policy, monkeypatch
) -> None:
    emulator = with_policy("DAILY_CAP=1")
    service.deliver(visit("1"))
    service.deliver(visit("2"))  # over the cap: held back, nothing pushed under its dedup key
    at(monkeypatch, datetime.now(SHANGHAI) + timedelta(days=1))  # the cap has room again
    service.deliver(visit("2"))  # the same buyer and goods, within the dedup window
    assert [status for status, _ in outcomes()] == ["sent", "suppressed", "sent"]
    assert len(emulator.messages()) == 2


def test_seven_buyers_are_five_pushes_and_the_next_days_push_is_a_digest(
    with_policy, monkeypatch
) -> None:
    emulator = with_policy()
    for buyer in range(1, 8):
        service.deliver(visit(str(buyer)))
    assert len(emulator.messages()) == 5
    assert [s for s, _ in outcomes()].count("sent") == 5
    assert outcomes()[5:] == [("suppressed", "daily_cap")] * 2
    at(monkeypatch, datetime.now(SHANGHAI) + timedelta(days=1))  # a new day in the app's zone
    service.deliver(visit("8"))
    digest = emulator.messages()[-1]["fields"]["description"]
    assert digest == "3 位用户浏览了您的商品【二手自行车】"
    service.deliver(visit("9"))  # the digest is said once
    assert emulator.messages()[-1]["fields"]["description"].startswith("【")
    assert len(emulator.messages()) == 7


@pytest.mark.parametrize("loss", ["flushall", "restart"])
def test_redis_losing_its_data_mid_day_neither_bursts_past_the_cap_nor_repeats(
    with_policy, client, private_redis, loss
) -> None:
    emulator = with_policy()
    for buyer in range(1, 4):
        service.deliver(visit(str(buyer)))
    if loss == "flushall":
        client.flushall()
    else:  # no persistence configured: a restarted redis-server comes back empty
        private_redis.stop()
        private_redis.start()
    assert not client.keys("pushworker:policy:*")
    service.deliver(visit("1"))  # a repeat Redis forgot: the database still knows it was sent
    for buyer in range(4, 8):
        service.deliver(visit(str(buyer)))
    assert len(emulator.messages()) == 5
    assert [c for _, c in outcomes()][3:] == ["duplicate", "", "", "daily_cap", "daily_cap"]


def test_without_redis_the_database_alone_holds_the_cap(with_policy) -> None:
    emulator = with_policy()
    policy.use(None)  # no worker app installed: the policy has no Redis
    for buyer in range(1, 8):
        service.deliver(visit(str(buyer)))
    service.deliver(visit("1"))
    assert len(emulator.messages()) == 5
    assert [c for _, c in outcomes()][5:] == ["daily_cap", "daily_cap", "duplicate"]


def test_a_visit_in_quiet_hours_is_carried_with_time_to_send_at_their_end(
    with_policy, monkeypatch
) -> None:
    emulator = with_policy("QUIET_HOURS=22:00-08:00")
    night = next_local(23)
    at(monkeypatch, night)
    assert service.deliver(visit()).status == DeliveryStatus.SENT
    morning = (night + timedelta(hours=9)).astimezone(SHANGHAI)
    assert morning.hour == 8
    fields = emulator.messages()[0]["fields"]
    assert fields["time_to_send"] == str(int(morning.timestamp() * 1000))


def test_a_visit_held_in_quiet_hours_is_sent_at_their_end_without_spending_retries(
    with_policy, monkeypatch
) -> None:
    emulator = with_policy("QUIET_HOURS=22:00-08:00,QUIET_HOURS_MODE=hold")
    night, event = next_local(23), visit()
    at(monkeypatch, night)
    assert service.deliver(event).status == DeliveryStatus.RETRYING
    row = Delivery.objects.get()
    assert (row.retries, row.error_category, emulator.messages()) == (0, "quiet_hours", [])
    # It waits as a row until the window ends, in one wait (no broker message, no hops).
    wait = (row.next_attempt_at - timezone.now()).total_seconds()
    assert 9 * 3600 - 60 < wait <= 9 * 3600 + 1 and row.published_at is None
    at(monkeypatch, night + timedelta(hours=8, minutes=59))
    assert service.deliver(event, retried=True).status == DeliveryStatus.RETRYING
    at(monkeypatch, night + timedelta(hours=9))  # 08:00
    assert service.deliver(event, retried=True).status == DeliveryStatus.SENT
    assert "time_to_send" not in emulator.messages()[0]["fields"]
    assert Delivery.objects.get().retries == 0


def test_a_visit_in_quiet_hours_is_dropped_when_so_configured(with_policy, monkeypatch) -> None:
    emulator = with_policy("QUIET_HOURS=22:00-08:00,QUIET_HOURS_MODE=drop")
    at(monkeypatch, next_local(7))
    service.deliver(visit())
    at(monkeypatch, next_local(8))
    service.deliver(visit("8"))
    assert outcomes() == [("suppressed", "quiet_hours"), ("sent", "")]
    assert len(emulator.messages()) == 1


def test_an_operators_test_push_is_sent_whatever_the_cap_dedup_and_quiet_hours(
    with_policy, monkeypatch
) -> None:
    from pushworker.store import testpush

    emulator = with_policy("DAILY_CAP=1,QUIET_HOURS=22:00-08:00,QUIET_HOURS_MODE=drop")
    at(monkeypatch, next_local(12))
    service.deliver(visit("1"))  # the day's one push
    at(monkeypatch, next_local(23))  # quiet hours, and the cap is full
    for _ in range(2):  # twice the same test push: no dedup either
        test = visit("pushworker-admin")
        testpush.keep(test, "qqc")
        assert service.deliver(test).status == DeliveryStatus.SENT
    service.deliver(visit("2"))
    assert outcomes() == [("sent", ""), ("sent", ""), ("sent", ""), ("suppressed", "quiet_hours")]
    assert list(Delivery.objects.order_by("id").values_list("test_push", flat=True)) == [
        False,
        True,
        True,
        False,
    ]
    assert len(emulator.messages()) == 3


def test_notify_id_per_subject_channel_and_time_to_live_are_the_apps(with_policy) -> None:
    emulator = with_policy(
        "DAILY_CAP=0,NOTIFY_ID=subject,CHANNEL.goods_visit=visits,TIME_TO_LIVE=3600"
    )
    first, second = visit("1"), visit("2")
    service.deliver(first)
    service.deliver(second)
    a, b = (m["fields"] for m in emulator.messages())
    assert a["notify_id"] == b["notify_id"] != str(notification.notify_id(first.event_id))
    assert (a["extra.channel_id"], a["time_to_live"]) == ("visits", "3600000")


def test_by_default_notify_id_stays_per_event_and_the_wire_form_unchanged(with_policy) -> None:
    emulator = with_policy()
    first, second = visit("1"), visit("2")
    service.deliver(first)
    service.deliver(second)
    a, b = (m["fields"] for m in emulator.messages())
    assert a["notify_id"] == str(notification.notify_id(first.event_id)) != b["notify_id"]
    assert "extra.channel_id" not in a and a["time_to_live"] == str(24 * 3600 * 1000)


@pytest.mark.parametrize(("devices", "requests"), [("all", 2), ("newest_per_platform", 1)])
def test_which_devices(with_policy, devices, requests) -> None:
    emulator = with_policy(f"DEVICES={devices}")
    PushDevice.objects.create(
        user_id="42", app_name="qqc", os_type="android", registration_id="newer"
    )
    service.deliver(visit())
    assert len(emulator.messages()) == requests
    if requests == 1:
        assert emulator.messages()[0]["targets"] == ["newer"]


def test_bad_policy_settings_are_named() -> None:
    spec = {
        "APPS": {
            "qqc": {
                "ANDROID": {"APP_SECRET": "s", "PACKAGE_NAME": "a.b"},
                "POLICY": {"DAILY_CAP": -1, "QUIET_HOURS": "22-8", "DEVICES": "one", "X": 1},
            }
        }
    }
    problems = [str(p) for p in parse(spec)[1]]
    where = "PUSHWORKER['APPS']['qqc']['POLICY']"
    assert f"{where} DAILY_CAP: must be a whole number of at least 0, got -1" in problems
    assert any(p.startswith(f"{where} QUIET_HOURS: must be") for p in problems)
    assert any(p.startswith(f"{where} DEVICES: must be one of all") for p in problems)
    assert any(p.startswith(f"{where} X: is not a known key") for p in problems)
    labels = {("APPS", "qqc", "POLICY"): "PUSHWORKER_POLICY"}
    env_spec = {"APPS": {"qqc": {**spec["APPS"]["qqc"], "POLICY": "TIMEZONE=Mars/Base"}}}
    [problem] = [str(p) for p in parse(env_spec, labels)[1]]
    assert problem.startswith("PUSHWORKER_POLICY TIMEZONE: must be an IANA time zone")


def test_the_shipped_defaults() -> None:
    spec = {"APPS": {"qqc": {"ANDROID": {"APP_SECRET": "s", "PACKAGE_NAME": "a.b"}}}}
    shipped = parse(spec)[0].app("qqc").policy
    assert (shipped.dedup_window, shipped.daily_cap, shipped.timezone) == (600, 5, "Asia/Shanghai")
    assert (shipped.quiet_hours, shipped.quiet_hours_mode) == (None, "time_to_send")
    assert (shipped.notify_id, shipped.devices, shipped.time_to_live) == ("event", "all", None)
