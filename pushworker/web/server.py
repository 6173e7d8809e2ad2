"""``pushworker web``: gunicorn serving the standalone service (admin, device API, /healthz).

The Django application is built once in the master process and forked into the workers, so a
broken configuration stops the command at start-up instead of in every worker. Every line it
writes is pushworker's (JSON or key=value, ``PUSHWORKER_LOG_FORMAT``): gunicorn's error and access
logs, and Django's ``django.request`` lines, each 500 with its traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from pushworker.ops import logs
from pushworker.web import metrics as metrics_web


class MaskingLogger(Logger):
    """gunicorn's logger in pushworker's line format, with device tokens in paths masked."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(logs.formatter())
                handler.addFilter(logs.CorrelationFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = logs.mask_paths(atoms[key])
        return atoms


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it refuses before Django sees it (400, 431), as JSON.

    gunicorn writes these itself as HTML and has no hook for their body; its workers call
    ``gunicorn.util.write_error``, replaced by this function in ``pushworker web`` only.
    """
    body = json.dumps({"detail": f"{reason}: {mesg}" if mesg else reason})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("latin-1"))


class _Server(BaseApplication):
    def __init__(self, application: Any, options: dict[str, Any]) -> None:
        self.application = application
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.application


def options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn's settings: threaded workers, so a slow health check cannot block a worker."""
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 20,
        "accesslog": "-",
        "errorlog": "-",
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms',
        "logger_class": MaskingLogger,
        "proc_name": "pushworker-web",
        "child_exit": metrics_web.child_exit,
    }


def serve(host: str, port: int, *, workers: int = 2, threads: int = 4) -> int:
    """Run until SIGTERM or SIGINT; Django must be set up (``pushworker.cli`` does it)."""
    from django.conf import settings
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("check")  # system checks, pushworker's configuration among them: fail fast
    if not getattr(settings, "PUSHWORKER_API_TOKEN", ""):
        print(
            "pushworker web: PUSHWORKER_API_TOKEN is not set: the device API refuses every call",
            file=sys.stderr,
        )
    metrics_web.prepare(port)  # /metrics sums every gunicorn worker's samples
    util.write_error = write_json_error  # its own refusals in JSON too (see write_json_error)
    _Server(get_wsgi_application(), options(host, port, workers, threads)).run()
    return 0
