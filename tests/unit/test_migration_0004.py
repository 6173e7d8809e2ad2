"""Specifies migration 0004: duplicate devices from before it are merged into their newest row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("pushworker", "0003_duplicate_help_text")]
AFTER = [("pushworker", "0004_device_registration_unique")]


@pytest.fixture
def executor():
    executor = MigrationExecutor(connection)
    yield executor
    # Later tests expect the latest schema, whatever migrations come after 0004.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_newest_row_of_each_device_stays_and_the_constraints_are_added(executor) -> None:
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("pushworker", "PushDevice")
    make = old.objects.create
    stale_regid = make(user_id="1", app_name="qqc", os_type="android", registration_id="r")
    newest_regid = make(user_id="2", app_name="qqc", os_type="android", registration_id="r")
    other_app = make(user_id="1", app_name="shop2", os_type="android", registration_id="r")
    stale_alias = make(user_id="1", app_name="qqc", os_type="ios")
    newest_alias = make(user_id="1", app_name="qqc", os_type="ios")
    sandbox = make(user_id="1", app_name="qqc", os_type="ios", ios_environment="sandbox")

    executor.loader.build_graph()
    executor.migrate(AFTER)

    new = executor.loader.project_state(AFTER).apps.get_model("pushworker", "PushDevice")
    kept = set(new.objects.values_list("pk", flat=True))
    assert kept == {newest_regid.pk, other_app.pk, newest_alias.pk, sandbox.pk}
    assert not kept & {stale_regid.pk, stale_alias.pk}
    constraints = connection.introspection.get_constraints(
        connection.cursor(), "pushworker_pushdevice"
    )
    assert "pushdevice_unique_registration_id_per_app" in constraints
    assert "pushdevice_one_alias_device_per_user_platform_env" in constraints
