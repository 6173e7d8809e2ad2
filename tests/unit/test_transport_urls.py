"""Every broker URL flavour gets the hardened transport, or the worker refuses it by its scheme.

The unix-socket and Sentinel flavours run against a real redis-server (and a real sentinel) on
free ports; each must dead-letter garbage and deliver the next message like the plain one does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from kombu import Connection
from packaging.version import Version

from pushworker.broker import transport
from tests.support.redis_server import RedisServer, free_port, redis_binary
from tests.unit.transport_support import Link, celery_message, edited

ROOT = Path(__file__).parents[2]


def test_kombu_is_within_the_versions_the_private_overrides_were_checked_against() -> None:
    installed = Version(metadata.version("kombu"))
    first, last = (Version(v) for v in transport.KOMBU_CHECKED)

    assert first <= installed <= last, (
        f"kombu {installed} is outside {transport.KOMBU_CHECKED}: compare Channel._brpop_read, "
        "_get and _receive_one in kombu/transport/redis.py with the copies in "
        "pushworker/broker/transport.py, then widen KOMBU_CHECKED"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@127.0.0.1:6379/0", transport.Transport),
        ("rediss://:pw@redis.example:6380/0", transport.Transport),
        ("redis+socket:///run/redis/redis.sock?virtual_host=2", transport.SocketTransport),
        ("sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379", transport.SentinelTransport),
    ],
)
def test_every_redis_url_flavour_gets_a_hardened_transport_in_kombu(url: str, expected) -> None:
    broker_url, transport_path = transport.broker_for(url)

    assert Connection(broker_url, transport=transport_path).get_transport_cls() is expected


def test_a_rediss_url_checks_the_server_certificate_unless_it_says_otherwise() -> None:
    secure, _ = transport.broker_for("rediss://:pw@redis.example:6380/0")
    chosen, _ = transport.broker_for("rediss://:pw@r:6380/0?ssl_cert_reqs=optional")

    assert Connection(secure, transport="pushworker.broker.transport:Transport").ssl == {
        "ssl_cert_reqs": 2  # ssl.CERT_REQUIRED
    }
    assert chosen.endswith("?ssl_cert_reqs=optional")


@pytest.mark.parametrize("url", ["amqp://guest:hunter2@mq//", "unix:///tmp/r.sock", "hunter2"])
def test_any_other_scheme_is_refused_by_name_without_the_url(url: str) -> None:
    with pytest.raises(transport.UnsupportedBrokerError) as refused:
        transport.broker_for(url)

    assert "PUSHWORKER_BROKER_URL" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def _celery_transport(url: str) -> subprocess.CompletedProcess:
    """The transport class the standalone Celery app builds for ``url``, in a fresh process."""
    code = (
        "from pushworker.celery import app;"
        "print(type(app.connection_for_write().transport).__name__)"
    )
    env = {**os.environ, "PUSHWORKER_BROKER_URL": url, "PYTHONPATH": str(ROOT)}
    env["PUSHWORKER_BROKER_MASTER_NAME"] = "pushworker"  # required with sentinel://
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("redis://127.0.0.1:1/0", "Transport"),
        ("redis+socket:///tmp/pushworker-none.sock", "SocketTransport"),
        ("sentinel://127.0.0.1:1", "SentinelTransport"),
    ],
)
def test_the_worker_app_uses_the_hardened_transport_for_each_flavour(url: str, name: str) -> None:
    result = _celery_transport(url)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == name


def test_a_worker_refuses_to_start_on_an_unsupported_scheme_naming_it() -> None:
    env = {**os.environ, "PUSHWORKER_BROKER_URL": "amqp://guest:hunter2@mq//"}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "celery", "-A", "pushworker", "worker", "--pool", "solo"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)

    assert result.returncode != 0
    assert "scheme 'amqp' is not supported" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def _garbage_then_valid(link: Link) -> None:
    """The hardening, through this flavour's transport: garbage is kept, the next is delivered."""
    try:
        [letter] = link.feed(edited(celery_message(), "headers.timelimit", "x")).dead_letters
        assert "headers.timelimit" in letter.reason
        assert link.feed(b"[" * 100_000).dead_letters
        assert len(link.feed(celery_message()).delivered) == 1
        assert link.unacked() == 0
    finally:
        link.close()


def _start(args: list[str], workdir: Path, port: int | None = None, sock: str | None = None):
    log = open(workdir / "server.log", "ab")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    import redis

    client = redis.Redis(unix_socket_path=sock) if sock else redis.Redis(port=port)
    from tests.support.stack import wait_for

    def ready() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_for(ready, 20, interval=0.05, message=f"{args[0]} to answer")
    return process


@pytest.fixture
def workdir() -> Iterator[Path]:
    # A unix socket path must stay under ~100 bytes: pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="pw-", dir="/tmp") as path:
        yield Path(path)


@pytest.mark.django_db
def test_redis_over_a_unix_socket_is_hardened(workdir: Path) -> None:
    sock = str(workdir / "redis.sock")
    args = [redis_binary(), "--port", "0", "--unixsocket", sock, "--save", ""]
    server = _start(args, workdir, sock=sock)
    try:
        url, transport_path = transport.broker_for(f"redis+socket://{sock}")
        _garbage_then_valid(Link(url, transport_path, push_url=f"unix://{sock}"))
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.django_db
def test_redis_behind_sentinel_is_hardened(workdir: Path) -> None:
    master = RedisServer(workdir / "master").start()
    sentinel_port = free_port()
    config = workdir / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor pushworker 127.0.0.1 {master.port} 1\n"
    )
    sentinel = _start([redis_binary(), str(config), "--sentinel"], workdir, port=sentinel_port)
    try:
        url, transport_path = transport.broker_for(f"sentinel://127.0.0.1:{sentinel_port}")
        link = Link(url, transport_path, push_url=master.url, master_name="pushworker")
        _garbage_then_valid(link)
    finally:
        sentinel.terminate()
        sentinel.wait(timeout=10)
        master.stop()
