"""Specifies broker.checks: what would break pushworker's tasks on the current app is named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery, current_app

from pushworker.broker import checks
from pushworker.broker import install as integration


@pytest.fixture
def current(configure) -> Iterator:
    """``current(app)`` makes ``app`` the current app (as a host's celery module does) until the
    test ends."""
    configure()
    before = current_app._get_current_object()

    def make(app: Celery) -> Celery:
        app.set_current()
        return app

    yield make
    before.set_current()


def host_app(**conf) -> Celery:
    app = Celery("shop", set_as_current=False)
    app.config_from_object(
        {"broker_url": "redis://127.0.0.1:1/0", **conf}, namespace="CELERY", force=True
    )
    return app


def messages() -> list:
    return checks.check_celery_app()


def test_a_host_global_soft_time_limit_above_pushworkers_hard_limit_is_no_problem(current):
    current(integration.install(host_app(CELERY_TASK_SOFT_TIME_LIMIT=70)))
    assert messages() == []


def test_a_host_star_annotation_that_changes_pushworkers_limits_is_an_error_naming_the_setting(
    current,
):
    star = {"*": {"soft_time_limit": 70, "rate_limit": "10/s"}}
    current(integration.install(host_app(CELERY_TASK_ANNOTATIONS=star)))
    found = messages()
    assert found and {m.id for m in found} == {"pushworker.E004"}
    assert all(m.msg.startswith("CELERY_TASK_ANNOTATIONS changes soft_time_limit") for m in found)
    assert "pushworker.send_goods_visit" in " ".join(m.msg for m in found)


def test_a_host_annotation_of_its_own_tasks_is_no_problem(current):
    own = {"shop.*": {"soft_time_limit": 70}, "shop.recount": {"time_limit": 5}}
    current(integration.install(host_app(CELERY_TASK_ANNOTATIONS=own)))
    assert messages() == []


def test_a_different_visibility_timeout_is_a_check_error_not_a_traceback(current):
    options = {"visibility_timeout": 3600}
    current(integration.install(host_app(CELERY_BROKER_TRANSPORT_OPTIONS=options)))
    [error] = messages()
    assert error.id == "pushworker.E004"
    assert "broker_transport_options['visibility_timeout'] (3600 s) differs" in error.msg


def test_task_protocol_1_is_an_error_naming_the_setting(current):
    current(integration.install(host_app(CELERY_TASK_PROTOCOL=1)))
    [error] = messages()
    assert error.msg.startswith("CELERY_TASK_PROTOCOL is 1")


def test_a_current_app_install_never_touched_is_a_warning(current):
    current(host_app())
    [warning] = messages()
    assert warning.id == "pushworker.W004" and "delay() raises" in warning.msg
