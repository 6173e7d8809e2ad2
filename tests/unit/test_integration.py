"""Specifies broker.install.install: a host Celery app gains pushworker, keeps its own."""

from __future__ import annotations

import pytest
from celery import Celery

from pushworker import conf
from pushworker.broker import install as integration
from pushworker.broker import queues

HOST = {
    "broker_url": "redis://127.0.0.1:1/3",
    "task_default_queue": "shop",
    "task_routes": {"*": {"queue": "shop"}},
    "task_time_limit": 300,
    "task_ignore_result": False,
    "task_acks_late": False,
    "result_backend": "redis://127.0.0.1:1/4",
    "task_serializer": "json",
    "beat_schedule": {"nightly": {"task": "shop.nightly", "schedule": 86400}},
}


def _recount() -> int:
    return 1


def host_app(**overrides) -> Celery:
    app = Celery("shop", set_as_current=False)
    app.conf.update({**HOST, **overrides})

    app.task(name="shop.recount")(_recount)
    import pushworker.tasks  # noqa: F401 - the shared tasks bind to every app

    return app


@pytest.fixture
def installed(configure) -> Celery:
    configure()
    return integration.install(host_app())


def route(app: Celery, name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def test_the_hosts_tasks_keep_their_queue_and_settings(installed) -> None:
    assert route(installed, "shop.recount") == "shop"
    task = installed.tasks["shop.recount"]
    assert task.ignore_result is False and task.acks_late is False
    assert task.time_limit == 300  # the host's global limit, not pushworker's
    assert installed.conf.broker_url == HOST["broker_url"]
    assert installed.conf.result_backend == HOST["result_backend"]
    assert installed.conf.task_ignore_result is False and installed.conf.task_acks_late is False


def test_pushworker_tasks_get_their_queues_and_options_whatever_the_host_says(installed) -> None:
    assert route(installed, "pushworker.send_goods_visit") == "pushworker"
    assert route(installed, "pushworker.relay_outbox") == "pushworker.maintenance"
    lease = conf.get().claim_lease_seconds
    for name in queues.ROUTES.keys() - queues.OWN_OPTIONS:
        task = installed.tasks[name]
        assert (task.acks_late, task.reject_on_worker_lost, task.ignore_result) == (True,) * 3
        assert task.serializer == "json"
        assert lease <= task.time_limit < conf.get().visibility_timeout
    # The purge acks on receipt (a cut-short run loses nothing) and runs minutes, not one lease.
    assert route(installed, "pushworker.purge_expired") == "pushworker.maintenance"
    purge = installed.tasks["pushworker.purge_expired"]
    assert (purge.acks_late, purge.ignore_result) == (False, True)
    assert purge.time_limit > 300


def test_pushworkers_tasks_carry_their_own_soft_and_hard_limits_whatever_the_hosts_are(
    configure,
) -> None:
    from pushworker import tasks

    configure()
    app = integration.install(host_app(task_soft_time_limit=70, task_time_limit=60))
    for name in integration.ROUTES:
        task = app.tasks[name]
        assert task.soft_time_limit == task.time_limit, name  # never the host's 70
        assert task.time_limit < conf.get().visibility_timeout or name in integration.OWN_OPTIONS
    assert app.tasks["shop.recount"].soft_time_limit == 70  # the host's own task keeps the host's
    assert integration.PURGE_TIME_LIMIT == tasks.PURGE_SECONDS + 60
    assert tasks.purge_expired.time_limit == integration.PURGE_TIME_LIMIT


def test_publishing_through_an_app_install_never_touched_raises_naming_the_fix(configure) -> None:
    configure()
    bare = host_app()
    with pytest.raises(integration.NotInstalledError) as raised:
        bare.tasks["pushworker.send_goods_visit"].delay(owner_id="1", goods_id="2", goods_name="碗")
    assert "install() never touched" in str(raised.value)
    assert "import pushworker.celery" in str(raised.value)
    assert "pushworker.broker.install.install(app)" in str(raised.value)
    with pytest.raises(integration.NotInstalledError):
        bare.tasks["pushworker.send_goods_visit"].apply_async(kwargs={"owner_id": "1"})


def test_the_hosts_default_queue_stays_declared_beside_pushworkers(installed) -> None:
    names = [queue.name for queue in installed.conf.task_queues]
    assert names == ["shop", "pushworker.urgent", "pushworker.maintenance", "pushworker"]


def test_beat_gains_pushworkers_entries_and_keeps_the_hosts(installed) -> None:
    schedule = installed.conf.beat_schedule
    assert schedule["nightly"] == HOST["beat_schedule"]["nightly"]
    assert schedule["pushworker.relay_outbox"]["schedule"] == conf.get().relay_interval_seconds
    assert schedule["pushworker.sweep_stuck"]["task"] == "pushworker.sweep_stuck"


def test_the_redis_transport_and_consumer_are_hardened(installed) -> None:
    assert installed.conf.broker_transport == "pushworker.broker.transport:Transport"
    assert installed.conf.worker_consumer == integration.CONSUMER
    options = installed.conf.broker_transport_options
    assert options["visibility_timeout"] == conf.get().visibility_timeout
    assert options["unacked_restore_interval"] == 1


def test_the_hosts_own_transport_options_win_except_a_different_visibility_timeout(
    configure,
) -> None:
    configure()
    app = integration.install(host_app(broker_transport_options={"socket_timeout": 9}))
    assert app.conf.broker_transport_options["socket_timeout"] == 9


def test_a_different_visibility_timeout_is_kept_as_a_problem_and_install_does_not_raise(
    configure,
) -> None:
    from types import SimpleNamespace

    configure(MIPUSH_ANDROID_APP_SECRET="s3cret", MIPUSH_ANDROID_PACKAGE_NAME="com.example.shop")
    app = integration.install(host_app(broker_transport_options={"visibility_timeout": 3600}))
    [problem] = integration.problems(app)
    assert "broker_transport_options['visibility_timeout'] (3600 s) differs" in problem
    with pytest.raises(SystemExit, match=r"visibility_timeout'\] \(3600 s\) differs"):
        integration._refuse_unusable_worker(sender=SimpleNamespace(app=app))


def test_install_twice_changes_nothing(installed) -> None:
    before = (installed.conf.task_routes, list(installed.conf.task_queues))
    integration.install(installed)
    assert (installed.conf.task_routes, list(installed.conf.task_queues)) == before


def test_a_list_of_host_queues_and_routes_is_extended(configure) -> None:
    from kombu import Queue

    configure()
    app = integration.install(
        host_app(task_queues=[Queue("a"), Queue("b")], task_routes=[{"shop.*": {"queue": "a"}}])
    )
    assert [q.name for q in app.conf.task_queues] == [
        "a",
        "b",
        "pushworker.urgent",
        "pushworker.maintenance",
        "pushworker",
    ]
    assert route(app, "shop.recount") == "a"
    assert route(app, "pushworker.send_goods_visit") == "pushworker"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "pushworker.broker.transport:Transport"),
        ("rediss://:p@redis.example:6380/0", "pushworker.broker.transport:Transport"),
        ("redis+socket:///run/redis.sock", "pushworker.broker.transport:SocketTransport"),
        ("sentinel://127.0.0.1:26379", "pushworker.broker.transport:SentinelTransport"),
        ("memory://", None),
    ],
)
def test_the_transport_is_chosen_by_the_broker_url_scheme(url: str, expected) -> None:
    assert integration.broker_for(url)[1] == expected


@pytest.mark.parametrize("url", ["amqp://guest@localhost//", None])
def test_a_broker_that_is_not_redis_is_refused_naming_its_scheme(url) -> None:
    with pytest.raises(conf.SettingsError, match="broker URL scheme"):
        integration.broker_for(url)


def test_broken_settings_do_not_stop_the_hosts_app_from_loading(configure) -> None:
    configure(PUSHWORKER_RETRY_MAX="many")
    app = integration.install(host_app())
    assert route(app, "pushworker.send_goods_visit") == "pushworker"


def test_the_standalone_celeryconfig_has_no_side_effect_on_import(tmp_path, monkeypatch) -> None:
    import importlib

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PUSHWORKER_HOME", raising=False)
    import pushworker.broker.celeryconfig

    importlib.reload(pushworker.broker.celeryconfig)
    assert list(tmp_path.iterdir()) == []
    assert pushworker.broker.celeryconfig.beat_schedule_filename == "var/celerybeat-schedule"


def test_the_standalone_beat_creates_its_schedule_folder_when_it_starts(tmp_path) -> None:
    from pushworker.celery import Scheduler, app

    path = tmp_path / "not" / "yet" / "celerybeat-schedule"
    scheduler = Scheduler(app=app, schedule_filename=str(path), lazy=True)
    scheduler.setup_schedule()
    assert path.parent.is_dir()
    scheduler.close()


def test_a_host_without_a_redis_broker_loads_but_its_worker_would_refuse(configure) -> None:
    configure()
    app = integration.install(host_app(broker_url="amqp://guest@localhost//"))
    assert route(app, "pushworker.send_goods_visit") == "pushworker"
    assert "broker URL scheme 'amqp'" in " ".join(integration.problems(app))


def test_a_worker_of_pushworkers_queues_refuses_a_broker_that_is_not_redis(configure) -> None:
    from types import SimpleNamespace

    configure(MIPUSH_ANDROID_APP_SECRET="s3cret", MIPUSH_ANDROID_PACKAGE_NAME="com.example.shop")
    app = integration.install(host_app(broker_url="amqp://guest@localhost//"))
    with pytest.raises(SystemExit, match="broker URL scheme 'amqp' is not supported"):
        integration._refuse_unusable_worker(sender=SimpleNamespace(app=app))
    app.amqp.queues.select(["shop"])  # a worker of the host's own queue only
    integration._refuse_unusable_worker(sender=SimpleNamespace(app=app))
