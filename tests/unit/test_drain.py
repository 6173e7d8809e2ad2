"""Specifies drains (delivery.service.claim and .drain) on the real emulator: grouped, split,
waiting as rows, handed back."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from pushworker import conf
from pushworker.delivery import engine, planning, service
from pushworker.events import GoodsVisit
from pushworker.store import attempts, deliveries
from pushworker.store.models import (
    AttemptStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    PushDevice,
)

pytestmark = pytest.mark.django_db


def backlog(owners: list[str], os_type: str = "android", **device) -> list[GoodsVisit]:
    """One visit per owner, each owner with one device, kept as rows no message carries."""
    events = []
    for owner in owners:
        PushDevice.objects.create(user_id=owner, app_name="qqc", os_type=os_type, **device)
        event = GoodsVisit.from_call(owner, "7", "g-1", "青花瓷碗", "小明")
        deliveries.ensure(event, "qqc", published=False)
        events.append(event)
    return events


def run(run_id: str = "run-1") -> engine.Report:
    settings = conf.get()
    return service.drain(service.claim(run_id, settings), settings)


def due_now(events) -> None:
    """Time passes: the waiting rows come due."""
    Delivery.objects.filter(event_id__in=[e.event_id for e in events]).update(
        next_attempt_at=timezone.now()
    )


def statuses(events) -> dict[str, str]:
    found = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    return {str(d.event_id): d.status for d in found}


def test_a_backlog_goes_out_in_one_request_per_platform_and_every_event_keeps_its_row(emulator):
    android = backlog([f"a{n}" for n in range(30)])
    ios = backlog([f"i{n}" for n in range(10)], os_type="ios")
    report = run()
    assert report.counts == {"sent": 40}
    assert len(emulator.requests()) == 2
    assert len(emulator.messages()) == 40  # one recorded message per event
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in android + ios])
    assert {d.status for d in rows} == {"sent"}
    assert {d.attempts for d in rows} == {1} and all(d.finished_at for d in rows)
    assert len({d.message_id for d in rows}) == 2  # Xiaomi's one id per request
    assert DeliveryAttempt.objects.filter(status=AttemptStatus.SENT).count() == 40


def test_each_event_gets_its_own_message_in_the_batch(emulator):
    backlog(["a1", "a2"])
    run()
    by_target = {m["targets"][0]: m["fields"] for m in emulator.messages()}
    assert set(by_target) == {"QQC_a1", "QQC_a2"}
    assert by_target["QQC_a1"]["notify_id"] != by_target["QQC_a2"]["notify_id"]


def test_a_run_claims_at_most_the_batch_size_oldest_first(emulator, configure):
    configure(**{**_env(emulator), "PUSHWORKER_BATCH_SIZE": "10"})
    events = backlog([f"a{n:02d}" for n in range(25)])
    assert run("r1").counts == {"sent": 10}
    sent = {k for k, v in statuses(events).items() if v == "sent"}
    assert sent == {e.event_id for e in events[:10]}
    assert run("r2").counts == {"sent": 10} and run("r3").counts == {"sent": 5}
    assert run("r4").counts == {}


def test_a_batch_refused_for_one_bad_message_is_split_until_the_bad_one_is_isolated(emulator):
    events = backlog([f"a{n}" for n in range(16)])
    # Xiaomi refuses a whole request when one message in it is bad (mipush-api.md §4.1).
    emulator.set_faults(fail_rate=1.0, fail_with="65011", target="QQC_a5")
    report = run()
    assert report.counts == {"sent": 15, "failed": 1}
    found = statuses(events)
    assert found.pop(events[5].event_id) == "failed"
    assert set(found.values()) == {"sent"}
    bad = Delivery.objects.get(event_id=events[5].event_id)
    assert bad.error_code == 65011
    # Halving 16 takes 4 levels: at most 2 requests per level and the whole one.
    assert len(emulator.requests()) <= 1 + 2 * 4


def test_a_transient_failure_of_a_group_makes_its_events_wait_as_rows_with_their_own_budget(
    emulator,
):
    events = backlog([f"a{n}" for n in range(5)])
    settings = conf.get()
    emulator.set_faults(script=("http500",) * settings.retry.quick_attempts)
    report = run()
    assert report.counts == {"retrying": 5}
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert {(d.status, d.retries, d.published_at) for d in rows} == {("retrying", 1, None)}
    assert all(d.next_attempt_at <= timezone.now() + timedelta(seconds=2) for d in rows)
    # Once due, one drain sends them all in one request; nothing is sent twice unflagged.
    due_now(events)
    before = len(emulator.requests())
    assert run("r2").counts == {"sent": 5}
    assert len(emulator.requests()) == before + 1
    flagged = {str(d.event_id) for d in rows.all() if d.possible_duplicate}
    assert flagged == {e.event_id for e in events}  # a 500 may have reached Xiaomi


def test_a_waiting_row_is_not_claimed_before_it_is_due(emulator):
    events = backlog(["a1"])
    Delivery.objects.filter(event_id=events[0].event_id).update(
        status="retrying", next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert run().counts == {}
    due_now(events)
    assert run("r2").counts == {"sent": 1}


def test_a_partly_accepted_event_is_not_sent_again_to_the_accepted_target(emulator):
    [event] = backlog(["a1"])
    PushDevice.objects.create(user_id="a1", app_name="qqc", os_type="ios", registration_id="r1")
    backlog(["a2"], os_type="ios", registration_id="r2")
    emulator.set_faults(fail_rate=1.0, fail_with="10002", environment="production", target="r1")
    report = run()  # the iOS request (r1 and r2) failed, the Android one (QQC_a1) went out
    assert report.counts == {"retrying": 2}
    emulator.set_faults()
    due_now([event])
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert sum(1 for m in emulator.messages() if "QQC_a1" in m["targets"]) == 1


def test_a_run_that_died_mid_batch_flags_only_its_batch_and_reruns_each_event_alone(emulator):
    events = backlog([f"a{n}" for n in range(4)])
    others = backlog(["b1"])
    settings = conf.get()
    claimed = service.claim("dead-run", settings)
    held = [d for d in claimed.rows if str(d.event_id) in {e.event_id for e in events}]
    unit = SimpleNamespace(key="k", platform="android", environment="production")
    # The requests were on their way when the worker died.
    attempts.start(
        [
            (
                d,
                SimpleNamespace(
                    **vars(unit), target_type="alias", targets=(f"QQC_{d.recipient_id}",)
                ),
            )
            for d in held
        ]
    )
    Delivery.objects.filter(event_id=others[0].event_id).update(
        status="queued", claimed_by="", published_at=None
    )  # b1 was not in the dead batch
    again = service.claim("dead-run", settings)  # the redelivered message of the same run
    assert again.rows == [] and len(again.alone) == 4
    for event in events:
        assert service.deliver(event).status == DeliveryStatus.SENT
    rows = {str(d.event_id): d for d in Delivery.objects.all()}
    assert all(rows[e.event_id].possible_duplicate for e in events)
    assert all(rows[e.event_id].crashes == 1 for e in events)
    assert run("next").counts == {"sent": 1}
    assert not rows[others[0].event_id].possible_duplicate


def test_an_event_without_devices_or_app_ends_in_the_batch_with_its_reason(emulator):
    event = GoodsVisit.from_call("nobody", "7", "g-1", "碗", "小明")
    deliveries.ensure(event, "qqc", published=False)
    backlog(["a1"])
    assert run().counts == {"failed": 1, "sent": 1}
    assert Delivery.objects.get(event_id=event.event_id).error_category == "no_device"


def _env(emulator) -> dict[str, str]:
    from tests.unit.environment import emulator_env

    return emulator_env(emulator)


def test_a_batch_over_the_daily_quota_ends_each_event_by_its_kinds_quota_policy(emulator):
    events = backlog(["a1", "a2", "a3"])
    # Xiaomi answers a multi request over quota with code 0 and a count of dropped messages.
    emulator.set_faults(fail_rate=1.0, fail_with="200001")
    assert run().counts == {"failed": 3}  # a visit from today is worthless tomorrow
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert {(d.error_code, d.error_category) for d in rows} == {(200001, "quota")}
    # Which messages were dropped is not said: every attempt may have reached a phone.
    assert set(DeliveryAttempt.objects.values_list("status", flat=True)) == {"unknown"}


class Broker:
    """Stands in for the broker where the drain task publishes: kicks, settles and messages."""

    def __init__(self, monkeypatch, emulator) -> None:
        from pushworker import tasks

        self.emulator = emulator
        self.calls: list[str] = []
        self.messages: list[dict] = []
        monkeypatch.setattr(tasks.backlog, "kick", lambda app: self.calls.append("kick"))
        monkeypatch.setattr(tasks.backlog, "settle", lambda app: self.calls.append("settle"))
        monkeypatch.setattr(tasks.TASKS["goods_visit"], "apply_async", self.publish)

    def publish(self, **options) -> None:
        self.messages.append(options)

    def drain(self, run_id: str) -> str:
        from pushworker import tasks

        return tasks.drain.apply(task_id=run_id).get()


@pytest.fixture
def broker(monkeypatch, emulator) -> Broker:
    return Broker(monkeypatch, emulator)


def test_a_drain_that_finds_a_full_batch_asks_for_another_run_first(broker, configure, emulator):
    configure(**{**_env(emulator), "PUSHWORKER_BATCH_SIZE": "3"})
    backlog(["a1", "a2", "a3", "a4"])
    assert broker.drain("r1") == "3 sent" and broker.calls == ["kick"]
    assert broker.drain("r2") == "1 sent" and broker.calls == ["kick", "settle"]


def test_a_drain_that_finds_less_says_the_backlog_is_over_and_takes_what_came_meanwhile(broker):
    backlog(["a1"])
    assert broker.drain("r1") == "1 sent" and broker.calls == ["settle"]
    assert broker.drain("r2") == "nothing" and broker.messages == []


def test_a_drain_publishes_no_message_for_its_retries_they_wait_as_rows(broker):
    events = backlog(["a1", "a2"])
    broker.emulator.set_faults(script=("http503",) * conf.get().retry.quick_attempts)
    assert broker.drain("r1") == "2 retrying"
    assert broker.messages == []  # no countdown message: worker memory stays flat
    ceiling = timezone.now() + timedelta(seconds=conf.get().retry.countdown_ceiling(0))
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert all(d.published_at is None and d.next_attempt_at <= ceiling for d in rows)


def test_a_redelivered_drain_hands_its_dead_batch_back_one_message_per_event(broker):
    events = backlog(["a1", "a2", "a3"])
    service.claim("r1", conf.get())  # the first copy claimed them, then its worker died
    assert broker.drain("r1") == "nothing"
    assert sorted(m["task_id"] for m in broker.messages) == sorted(e.event_id for e in events)
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert {(d.status, d.crashes, d.claimed_by) for d in rows} == {("queued", 1, "")}


def test_a_per_event_copy_waits_while_a_live_batch_run_holds_the_event_past_one_lease(emulator):
    from datetime import timedelta

    from django.utils import timezone

    [event] = backlog(["a1"])
    settings = conf.get()
    service.claim("r1", settings)
    # One lease after its claim a batch run may still be sending: its time limit is
    # RETRY_CAP plus a lease. A stray message of the event (the relay's, a late publish) waits.
    since = timezone.now() - timedelta(seconds=settings.claim_lease_seconds + 1)
    Delivery.objects.filter(event_id=event.event_id).update(claimed_at=since)
    assert service.deliver(event) == service.Outcome(DeliveryStatus.SENDING)
    assert emulator.requests() == []
    # Past the batch run's time limit it is dead: the copy takes the event over.
    since -= timedelta(seconds=settings.retry.cap_seconds)
    Delivery.objects.filter(event_id=event.event_id).update(claimed_at=since)
    assert service.deliver(event).status == DeliveryStatus.SENT
    row = Delivery.objects.get(event_id=event.event_id)
    assert (row.crashes, row.claimed_by) == (1, "")  # no longer the dead run's row


def test_a_drain_whose_kick_or_settle_fails_still_delivers_the_batch_it_claimed(
    broker, monkeypatch, configure, emulator
):
    from pushworker import tasks

    def refused(app) -> None:
        raise ConnectionError("Redis is restarting")

    monkeypatch.setattr(tasks.backlog, "kick", refused)
    monkeypatch.setattr(tasks.backlog, "settle", refused)
    configure(**{**_env(emulator), "PUSHWORKER_BATCH_SIZE": "2"})
    events = backlog(["a1", "a2", "a3"])
    assert broker.drain("r1") == "2 sent"  # a full batch: the kick failed, the relay kicks again
    assert broker.drain("r2") == "1 sent"  # less: the flag stays until its TTL, nothing is lost
    assert set(statuses(events).values()) == {"sent"}


def test_a_dead_run_of_one_event_is_not_topped_up_with_fresh_events(broker):
    [suspect] = backlog(["a1"])
    service.claim("r1", conf.get())  # the first copy held only a1 when its worker died
    fresh = backlog(["a2", "a3"])
    assert broker.drain("r1") == "nothing"  # a1 may be what killed it: it runs alone
    assert [m["task_id"] for m in broker.messages] == [suspect.event_id]
    found = statuses(fresh)
    assert set(found.values()) == {"queued"}  # left to the next batch run, no crash on them
    assert not Delivery.objects.filter(event_id__in=list(found), crashes__gt=0).exists()


def test_a_drain_whose_last_look_fills_the_batch_asks_for_another_run(
    broker, monkeypatch, configure, emulator
):
    from pushworker import tasks

    configure(**{**_env(emulator), "PUSHWORKER_BATCH_SIZE": "3"})
    backlog(["a1"])

    def settle(app) -> None:  # producers that saw the flag write their rows meanwhile
        broker.calls.append("settle")
        backlog(["b1", "b2", "b3", "b4"])

    monkeypatch.setattr(tasks.backlog, "settle", settle)
    assert broker.drain("r1") == "3 sent"
    # Those producers did not kick (the flag was set when they asked): this run does.
    assert broker.calls == ["settle", "kick"]


def test_no_half_of_a_refused_batch_is_requested_once_the_run_is_past_its_budget(
    emulator, configure
):
    # The run's budget for new requests is RETRY_CAP; its time limit is that plus one lease, so
    # a split must stop there too, or a slow split outlives the run's time limit.
    configure(**{**_env(emulator), "PUSHWORKER_RETRY_CAP": "0.3"})
    events = backlog([f"a{n}" for n in range(4)])
    emulator.set_faults(fail_rate=1.0, fail_with="65011", target="QQC_a3", latency_ms=400)
    report = run()
    assert len(emulator.requests()) == 1  # the whole batch, refused after the budget ran out
    assert report.counts == {"retrying": 4}  # each waits, due at once, with no retry spent
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert {(d.retries, d.error_category) for d in rows} == {(0, "out_of_time")}
    assert all(d.next_attempt_at <= timezone.now() for d in rows)


def test_an_error_in_a_batch_run_hands_its_unfinished_events_back_one_message_each(
    broker, monkeypatch
):
    events = backlog(["a1", "a2", "a3"])
    real = planning.plan

    def plan(event, *args, **kwargs):  # a bug in one event's kind, not a dead worker
        if event.recipient_id == "a2":
            raise RuntimeError("the kind's notification() broke")
        return real(event, *args, **kwargs)

    monkeypatch.setattr(planning, "plan", plan)
    with pytest.raises(RuntimeError):
        broker.drain("r1")
    # Not left in sending until the sweeper: each runs alone, where only a2 fails again.
    assert sorted(m["task_id"] for m in broker.messages) == sorted(e.event_id for e in events)
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert {(d.status, d.claimed_by) for d in rows} == {("queued", "")}


def test_a_batch_run_that_fails_after_one_group_was_accepted_never_resends_that_group(
    broker, emulator, monkeypatch
):
    # a1 has an Android phone (alias) and an iPhone (regid r1): two groups, two requests. The
    # iOS one fails transiently, the Android one is accepted; then the run fails while writing
    # the outcomes (the database connection was cut) and hands its events back, each alone.
    [event] = backlog(["a1"])
    PushDevice.objects.create(user_id="a1", app_name="qqc", os_type="ios", registration_id="r1")
    emulator.set_faults(fail_rate=1.0, fail_with="10002", target="r1")

    real, cuts = deliveries.park, [RuntimeError("the database connection was cut")]

    def park(parked):
        if cuts:
            raise cuts.pop()
        real(parked)

    monkeypatch.setattr(deliveries, "park", park)
    with pytest.raises(RuntimeError):
        broker.drain("r1")
    emulator.set_faults()
    assert service.deliver(event).status == DeliveryStatus.SENT
    assert sorted(t for m in emulator.messages() for t in m["targets"]) == [
        "QQC_a1",
        "r1",
    ]  # each once
    assert not Delivery.objects.get(event_id=event.event_id).possible_duplicate


def test_an_event_out_of_retries_after_one_group_was_accepted_ends_partial_not_dead(
    emulator, configure
):
    configure(**{**_env(emulator), "PUSHWORKER_RETRY_MAX": "0"})
    [event] = backlog(["a1"])  # an Android phone (alias), and an iPhone (regid r1)
    PushDevice.objects.create(user_id="a1", app_name="qqc", os_type="ios", registration_id="r1")
    emulator.set_faults(fail_rate=1.0, fail_with="10002", target="r1")
    assert run().counts == {"partial": 1}  # the Android phone has it: not "dead"
    row = Delivery.objects.get(event_id=event.event_id)
    assert row.error_code == 10002 and row.message_id


def failing_once(real, error: Exception, *, after: bool = False):
    """``real``, except that its first call raises ``error`` (``after``: once it has run)."""
    calls: list[None] = []

    def call(*args, **kwargs):
        first = not calls
        calls.append(None)
        if first and not after:
            raise error
        result = real(*args, **kwargs)
        if first:
            raise error
        return result

    return call


@pytest.mark.django_db(transaction=True)  # the failed run closes its connection
@pytest.mark.parametrize("where", ["claim", "run", "run and hand-back"])
def test_a_drain_the_database_fails_hands_its_batch_back_due_as_rows_without_a_crash(
    broker, monkeypatch, where
):
    from django.db import OperationalError

    events = backlog(["a1", "a2", "a3"])
    dropped = OperationalError("server closed the connection unexpectedly")
    if where == "claim":  # the connection dropped once the rows were claimed
        monkeypatch.setattr(
            deliveries, "claim_due", failing_once(deliveries.claim_due, dropped, after=True)
        )
    else:
        monkeypatch.setattr(planning, "plan", failing_once(planning.plan, dropped))
    if where == "run and hand-back":  # the new connection drops too: another one gives them back
        monkeypatch.setattr(deliveries, "give_back", failing_once(deliveries.give_back, dropped))
    with pytest.raises(OperationalError):
        broker.drain("r1")
    # Not held in sending until the claim expires, and no event is blamed: the next drain takes
    # them (redelivered: it reads their attempts first).
    assert broker.messages == []
    rows = Delivery.objects.filter(event_id__in=[e.event_id for e in events])
    assert {(d.status, d.claimed_by, d.crashes, d.published_at, d.redelivered) for d in rows} == {
        ("queued", "", 0, None, True)
    }
    assert broker.drain("r2") == "3 sent"


@pytest.mark.django_db(transaction=True)
def test_an_event_run_the_database_fails_leaves_its_row_due_not_claimed(emulator, monkeypatch):
    from django.db import InterfaceError

    [event] = backlog(["a1"])
    dropped = InterfaceError("connection already closed")
    monkeypatch.setattr(planning, "plan", failing_once(planning.plan, dropped))
    with pytest.raises(InterfaceError):
        service.deliver(event)
    row = Delivery.objects.get(event_id=event.event_id)
    assert (row.status, row.crashes, row.published_at) == ("queued", 0, None)
    assert service.deliver(event).status == DeliveryStatus.SENT


def test_a_batch_handed_back_after_its_request_is_not_sent_again(broker, monkeypatch):
    events = backlog(["a1", "a2"])
    monkeypatch.setattr(  # Xiaomi took the request and its attempts say so; ending the rows broke
        deliveries, "finish_sent", failing_once(deliveries.finish_sent, RuntimeError("a bug"))
    )
    with pytest.raises(RuntimeError):
        broker.drain("r1")
    assert len(broker.messages) == 2  # each runs alone, as after a crash
    for event in events:
        assert service.deliver(event).status == DeliveryStatus.SENT
    # Each run read what the failed one did: a target Xiaomi accepted is never requested again.
    assert sorted(m["targets"][0] for m in broker.emulator.messages()) == ["QQC_a1", "QQC_a2"]
    assert len(broker.emulator.requests()) == 1
