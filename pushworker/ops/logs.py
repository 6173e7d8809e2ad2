"""pushworker's log lines: JSON or key=value, one line each, with the correlation id of the event.

The structured fields (``extra=``) of every record are printed; controls are escaped and URL
passwords masked in both formats.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import pythonjsonlogger.json

from pushworker.conf.redaction import mask_url_credentials, printable

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _clean(text: str) -> str:
    return printable(mask_url_credentials(text))


# A registration id is a device token, and the receipts path holds RECEIPTS_TOKEN: a log line shows
# where a request went, never these values (gunicorn's access log, Django's request logger).
_SECRET_PATH = re.compile(r"(/api/v1/(?:devices|receipts)/)[^\s?\"']+")


def mask_paths(text: str) -> str:
    """``text`` with what follows ``/api/v1/devices/`` and ``/api/v1/receipts/`` made ``…``."""
    return _SECRET_PATH.sub("\\1…", text)


class RequestFilter(logging.Filter):
    """For ``django.request``: its lines carry the path in the message and the request object
    (``extra``); both are masked (:func:`mask_paths`), the request shown as method and path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_paths(a) if isinstance(a, str) else a for a in record.args)
        request = getattr(record, "request", None)
        if request is not None:
            path = mask_paths(str(getattr(request, "path", "")))
            record.request = f"{getattr(request, 'method', '')} {path}"
        return True


class KeyValueFormatter(logging.Formatter):
    """``<time> <level> <logger> <message> key=value …`` for the fields a call site attached.

    The message and every field stay on one line, whatever a name or a queue entry holds (a
    newline would forge a line), and URLs lose their passwords. A traceback keeps its lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _clean(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if fields:
            line += " " + " ".join(
                f"{key}={_clean(str(value))}" for key, value in sorted(fields.items())
            )
        return line


# --- JSON lines and the correlation id --------------------------------------------------------

LINE = "%(asctime)s %(levelname)s %(name)s %(message)s"
HEADER = "pushworker_correlation_id"  # the Celery message header that carries it to the worker
_correlation: ContextVar[str | None] = ContextVar("pushworker_correlation", default=None)


@contextmanager
def correlation(correlation_id: str) -> Iterator[str]:
    """Tie what happens inside to ``correlation_id`` (e.g. the web request's id).

    Every ``delay()`` inside carries it to the worker in the task's headers, and every log line of
    the delivery (down to Xiaomi's message and trace ids) has it. Without one, the event id is it.
    """
    token = _correlation.set(printable(str(correlation_id))[:128])
    try:
        yield correlation_id
    finally:
        _correlation.reset(token)


def current() -> str | None:
    return _correlation.get()


def task_headers(event_id: str) -> dict[str, str]:
    """The headers ``enqueue`` publishes with: the caller's correlation id or the event id."""
    return {HEADER: _correlation.get() or event_id}


def task_started(task: Any = None, task_id: str = "", **_: Any) -> None:
    """Celery's ``task_prerun``: the delivery's lines carry the id the enqueuer set."""
    request = getattr(task, "request", None)
    found = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    _correlation.set(printable(str(found or task_id))[:128] if found or task_id else None)


def task_ended(**_: Any) -> None:
    _correlation.set(None)


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id`` to every record logged while one is set."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (found := _correlation.get()) and not hasattr(record, "correlation_id"):
            record.correlation_id = found
        return True


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    if isinstance(value, dict):
        return {_clean(str(k)): _cleaned(v) for k, v in value.items()}
    return value if isinstance(value, int | float | bool) or value is None else _clean(str(value))


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """One JSON object per line: time, level, logger, message and the call site's fields.

    Every string is escaped like the key=value format's (a newline, an ANSI escape or a bidi mark
    stays visible text, never a line break) and URLs lose their passwords.
    """

    def __init__(self) -> None:
        rename = {"asctime": "time", "levelname": "level", "name": "logger"}
        super().__init__(LINE, rename_fields=rename, json_ensure_ascii=False)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {_clean(str(key)): _cleaned(value) for key, value in log_data.items()}


def formatter(**kwargs: Any) -> logging.Formatter:
    """``PUSHWORKER_LOG_FORMAT``: ``json`` or ``text``; unset, text on a terminal, else JSON."""
    chosen = os.environ.get("PUSHWORKER_LOG_FORMAT", "").strip().lower()
    if not chosen:
        chosen = "text" if sys.stderr.isatty() else "json"
    if chosen == "text":
        return KeyValueFormatter(kwargs.get("format", LINE))
    return JsonFormatter()


class _QuietMaintenance(logging.Filter):
    """Drops Celery's and beat's lines about a maintenance run that found nothing to do."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:  # a failed run is never noise
            return True
        args = record.args
        if isinstance(args, dict) and args.get("name") in self.names:
            # "received" always; "succeeded" only when it returned 0 (the run's own count)
            return "return_value" in args and str(args["return_value"]) not in ("0", "'0'")
        if isinstance(args, tuple) and record.name == "celery.beat":
            return not any(arg in self.names for arg in args)
        return True


def quiet_maintenance(names: tuple[str, ...]) -> None:
    """An idle relay or sweep writes no line: beat's "sending due task", the worker's "received"
    and "succeeded: 0" are dropped for ``names``; a run that did work keeps its own lines."""
    quiet = _QuietMaintenance(names)
    for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).addFilter(quiet)
