"""``pushworker web``: gunicorn serving the standalone service (admin, device API, /healthz).

The Django application is built once in the master process and forked into the workers, so a
broken configuration stops the command at start-up instead of in every worker.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from pushworker.web import metrics as metrics_web

# A registration id is a device token, and the receipts path holds RECEIPTS_TOKEN: the access
# log shows where they were, never the values themselves.
_DEVICE_PATH = re.compile(r"(/api/v1/(?:devices|receipts)/)[^ ?\"]+")


class MaskingLogger(Logger):
    """gunicorn's logger with device tokens in request paths masked."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = _DEVICE_PATH.sub(r"\1…", atoms[key])
        return atoms


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
    _Server(get_wsgi_application(), options(host, port, workers, threads)).run()
    return 0
