"""Redis Sentinel settings: the master's name and the sentinels' password, checked at start-up.

The failover itself runs for real in tests/faults/test_sentinel.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from kombu import Connection

from pushworker import conf
from pushworker.broker import install as integration
from pushworker.broker import transport
from pushworker.broker.celeryconfig import broker_settings

ROOT = Path(__file__).parents[2]
SENTINELS = "sentinel://:m4ster@10.0.0.1:26379;sentinel://:m4ster@10.0.0.2:26379"


def test_a_sentinel_url_takes_the_master_name_from_its_own_variable() -> None:
    url, chosen, options = broker_settings(
        {"PUSHWORKER_BROKER_URL": SENTINELS, "PUSHWORKER_BROKER_MASTER_NAME": " shop "}
    )

    assert (url, chosen) == (SENTINELS, "pushworker.broker.transport:SentinelTransport")
    assert options == {"master_name": "shop"}


def test_a_sentinel_url_without_a_master_name_is_refused_naming_the_variable() -> None:
    with pytest.raises(conf.SettingsError) as refused:
        broker_settings({"PUSHWORKER_BROKER_URL": SENTINELS, "PUSHWORKER_BROKER_MASTER_NAME": " "})

    assert "PUSHWORKER_BROKER_MASTER_NAME" in str(refused.value)
    assert "m4ster" not in str(refused.value)


def test_the_sentinels_password_goes_to_sentinel_kwargs_beside_the_socket_timeouts(
    configure,
) -> None:
    configure()
    _, _, options = broker_settings(
        {
            "PUSHWORKER_BROKER_URL": SENTINELS,
            "PUSHWORKER_BROKER_MASTER_NAME": "shop",
            "PUSHWORKER_BROKER_SENTINEL_PASSWORD": "s3ntinel",
        }
    )
    merged = integration.transport_options(conf.get(), options)

    assert merged["sentinel_kwargs"] == {
        "password": "s3ntinel",
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }


def test_other_urls_get_no_sentinel_options() -> None:
    _, _, options = broker_settings(
        {"PUSHWORKER_BROKER_URL": "redis://127.0.0.1:6379/0", "PUSHWORKER_BROKER_MASTER_NAME": "x"}
    )

    assert options == {}


def test_a_host_app_on_sentinel_without_master_name_loads_but_its_worker_refuses(
    configure,
) -> None:
    configure(MIPUSH_ANDROID_APP_SECRET="s3cret", MIPUSH_ANDROID_PACKAGE_NAME="com.example.shop")
    app = integration.install(Celery("shop", set_as_current=False, broker=SENTINELS))

    with pytest.raises(SystemExit, match=r"broker_transport_options\['master_name'\]"):
        integration._refuse_unusable_worker(sender=SimpleNamespace(app=app))


def test_a_host_app_with_a_master_name_is_accepted(configure) -> None:
    configure()
    app = Celery("shop", set_as_current=False, broker=SENTINELS)
    app.conf.broker_transport_options = {"master_name": "shop"}
    integration.install(app)

    assert integration.problems(app) == []
    assert app.conf.broker_transport == "pushworker.broker.transport:SentinelTransport"


def test_a_failed_connect_never_switches_to_kombus_stock_sentinel_transport() -> None:
    url, chosen = transport.broker_for(SENTINELS)
    connection = Connection(url, transport=chosen, transport_options={"master_name": "shop"})
    assert isinstance(connection.transport, transport.SentinelTransport)

    connection.maybe_switch_next()  # what kombu does after a failed connect

    assert isinstance(connection.transport, transport.SentinelTransport)
    assert len(connection.alt) == 2, "the channel reads the sentinels from the alternates"


def test_the_standalone_worker_refuses_a_sentinel_url_without_a_master_name() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHWORKER_BROKER_")}
    env.update(PUSHWORKER_BROKER_URL=SENTINELS, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "celery", "-A", "pushworker", "worker", "--pool", "solo"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)

    assert result.returncode != 0
    assert "PUSHWORKER_BROKER_MASTER_NAME: required" in result.stderr
    assert "m4ster" not in result.stderr + result.stdout


def test_pushworker_check_exits_1_naming_a_missing_master_name(configure, capsys) -> None:
    from pushworker import cli
    from tests.unit.environment import CREDENTIALS

    configure(**CREDENTIALS, PUSHWORKER_BROKER_URL=SENTINELS)
    code = cli.main(["check"])
    out, err = capsys.readouterr()

    assert code == 1
    assert "PUSHWORKER_BROKER_MASTER_NAME: required" in err
    assert "m4ster" not in out + err


def test_pushworker_check_masks_every_sentinels_password(configure, capsys) -> None:
    from pushworker import cli
    from tests.unit.environment import CREDENTIALS

    configure(**CREDENTIALS, PUSHWORKER_BROKER_URL=SENTINELS, PUSHWORKER_BROKER_MASTER_NAME="shop")
    code = cli.main(["check"])
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "broker: sentinel://:**@10.0.0.1:26379/;sentinel://:**@10.0.0.2:26379/" in out
    assert "m4ster" not in out + err
