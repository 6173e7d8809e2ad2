"""Specifies web.server: gunicorn's settings and an access log that masks device tokens."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from pushworker import cli
from pushworker.web import server as web


def test_the_command_line_takes_host_and_port() -> None:
    args = cli.parser().parse_args(["web", "--host", "0.0.0.0", "--port", "8000"])
    assert (args.host, args.port, args.func) == ("0.0.0.0", 8000, cli._web)
    defaults = cli.parser().parse_args(["web"])
    assert (defaults.host, defaults.port) == ("127.0.0.1", 8000)


def test_gunicorn_binds_ipv4_and_ipv6_hosts_with_threaded_workers() -> None:
    assert web.options("0.0.0.0", 8000, 2, 4)["bind"] == "0.0.0.0:8000"
    assert web.options("::", 8000, 2, 4)["bind"] == "[::]:8000"
    assert web.options("127.0.0.1", 1, 3, 4)["worker_class"] == "gthread"


def test_the_access_log_masks_the_registration_id_in_a_device_path() -> None:
    from gunicorn.config import Config

    logger = web.MaskingLogger(Config())
    request = SimpleNamespace(
        method="DELETE",
        path="/api/v1/devices/abc/DEF+1=",
        query="app=qqc",
        version=(1, 1),
        headers=[],
        uri="/api/v1/devices/abc/DEF+1=?app=qqc",
    )
    response = SimpleNamespace(status="204 No Content", sent=0, headers=[], response_length=0)
    environ = {
        "REQUEST_METHOD": "DELETE",
        "RAW_URI": request.uri,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "PATH_INFO": request.path,
        "QUERY_STRING": request.query,
    }

    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=3))
    assert "abc" not in atoms["r"] and "DEF" not in atoms["U"]
    assert atoms["r"].startswith("DELETE /api/v1/devices/…")
    assert atoms["U"] == "/api/v1/devices/…"
