"""``pushworker web``: gunicorn serving the standalone service (admin, device API, /healthz).

The Django application is built once in the master process and forked into the workers, so a
broken configuration stops the command at start-up instead of in every worker. Every line it
writes is pushworker's (JSON or key=value, ``PUSHWORKER_LOG_FORMAT``): gunicorn's error and access
logs (in JSON each request is one object with its request id, ``pushworker.web.requestid``), and
Django's ``django.request`` lines, each 500 with its traceback. Even gunicorn's own refusals (400,
431) answer in JSON.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from pushworker.ops import logs
from pushworker.web import metrics as metrics_web
from pushworker.web.masking import mask
from pushworker.web.requestid import HEADER

log = logging.getLogger("pushworker.web")
_REQUEST_ID = f"{{{HEADER.lower()}}}o"  # the response header's atom in gunicorn's access log


class MaskingLogger(Logger):
    """gunicorn's logger: device tokens in request paths masked, pushworker's line format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(logs.formatter())
                handler.addFilter(logs.CorrelationFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = mask(atoms[key])
        return atoms

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """In JSON, the request's parts as fields (text keeps the access log format)."""
        if not (self.cfg.accesslog and logs.json_chosen()):
            return super().access(resp, req, environ, request_time)
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            request_id = atoms.get(_REQUEST_ID, "")
            fields = {
                "remote_addr": atoms["h"],
                "method": atoms["m"],
                "path": atoms["U"],
                "query": atoms["q"],
                "status": int(atoms["s"]),
                "bytes": atoms["B"] or 0,
                "duration_ms": atoms["M"],
                "request_id": request_id,
                "correlation_id": request_id,
            }
            self.access_log.info("%s %s %s", atoms["m"], atoms["U"], atoms["s"], extra=fields)
        except Exception:  # noqa: BLE001 - as gunicorn's own access(): a bad line never a 500
            self.error(traceback.format_exc())


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
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%(' + _REQUEST_ID + ")s",
        "logger_class": MaskingLogger,
        "proc_name": "pushworker-web",
        "child_exit": metrics_web.child_exit,
    }


def serve(host: str, port: int, *, workers: int = 2, threads: int = 4) -> int:
    """Run until SIGTERM or SIGINT; Django must be set up (``pushworker.cli`` does it)."""
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    if not checks_pass():  # system checks, pushworker's configuration among them: fail fast
        return 1
    if not getattr(settings, "PUSHWORKER_API_TOKEN", ""):
        log.warning("PUSHWORKER_API_TOKEN is not set: the device API refuses every call")
    metrics_web.prepare(port)  # /metrics sums every gunicorn worker's samples
    util.write_error = write_json_error  # its own refusals in JSON too (see write_json_error)
    _Server(get_wsgi_application(), options(host, port, workers, threads)).run()
    return 0


def checks_pass() -> bool:
    """Django's system checks (``manage.py check``), each problem logged as a line of its own."""
    from django.core import checks

    problems = [p for p in checks.run_checks() if not p.is_silenced()]
    for problem in problems:
        level = logging.ERROR if problem.is_serious() else logging.WARNING
        log.log(level, "system check: %s", problem, extra={"check": problem.id})
    return not any(p.is_serious() for p in problems)
