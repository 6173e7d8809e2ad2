"""Specifies web.server and the request id: gunicorn's settings, its access line, masked tokens."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest

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


def _handler(logger) -> logging.StreamHandler:
    return next(h for h in logger.access_log.handlers if getattr(h, "_gunicorn", False))


def _access(logger, headers: list[tuple[str, str]], path: str = "/healthz"):
    request = SimpleNamespace(headers=[], uri=path)
    response = SimpleNamespace(status="200 OK", sent=17, headers=headers)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.7",
        "PATH_INFO": path,
        "QUERY_STRING": "",
    }
    logger.access(response, request, environ, timedelta(milliseconds=12))


def test_in_json_each_request_is_one_object_with_its_request_id(monkeypatch) -> None:
    from gunicorn.config import Config

    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "json")
    config = Config()
    config.set("accesslog", "-")
    logger = web.MaskingLogger(config)
    stream = io.StringIO()
    _handler(logger).setStream(stream)
    _access(logger, [("X-Request-ID", "rid-7")], "/api/v1/devices/SECRETREGID")
    [line] = stream.getvalue().splitlines()
    data = json.loads(line)
    assert (data["request_id"], data["status"], data["duration_ms"]) == ("rid-7", 200, 12)
    assert data["path"] == "/api/v1/devices/…" and "SECRETREGID" not in line


def test_in_text_the_access_line_ends_with_the_request_id(monkeypatch) -> None:
    from gunicorn.config import Config

    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "text")
    config = Config()
    for key, value in web.options("127.0.0.1", 8000, 1, 1).items():
        config.set(key, value)
    logger = web.MaskingLogger(config)
    stream = io.StringIO()
    _handler(logger).setStream(stream)
    _access(logger, [("X-Request-ID", "rid-8")])
    assert (
        stream.getvalue().strip().endswith('"GET /healthz HTTP/1.1" 200 17 12ms request_id=rid-8')
    )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("3f2c9a7e-1b4d-4c5e-9f00-123456789abc", True),
        ("Root=1-5e1b4151-5ac6c58f5b5daa6532e4f2a8", True),
        ('rid"\n{"level": "ERROR"}', False),
        ("x" * 129, False),
        ("", False),
    ],
)
def test_a_request_id_is_taken_from_the_header_only_when_safe(given: str, kept: bool) -> None:
    from pushworker.web.requestid import request_id

    found = request_id(given)
    assert (found == given) is kept
    assert len(found) <= 128 and found.isprintable()


def test_the_response_echoes_the_request_id_and_requests_enqueue_under_it(rf) -> None:
    from django.http import HttpResponse

    from pushworker.ops import logs
    from pushworker.web.requestid import RequestIdMiddleware

    seen = {}

    def view(request):
        seen["correlation"] = logs.current()
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(rf.get("/", HTTP_X_REQUEST_ID="rid-9"))
    assert response["X-Request-ID"] == "rid-9" == seen["correlation"]
    made_up = RequestIdMiddleware(view)(rf.get("/", HTTP_X_REQUEST_ID="bad id"))
    assert made_up["X-Request-ID"] == seen["correlation"] != "bad id"


def test_djangos_request_lines_lose_the_device_token() -> None:
    from pushworker.web.masking import RequestLineFilter

    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "Unauthorized: %s",
        ("/api/v1/devices/TOK",),
        None,
    )
    record.request = SimpleNamespace(method="GET", path="/api/v1/devices/TOK")
    assert RequestLineFilter().filter(record)
    assert record.getMessage() == "Unauthorized: /api/v1/devices/…"
    assert record.request == "GET /api/v1/devices/…"
