"""pushworker's log lines: JSON or key=value, one line each, with the correlation id of the event.

The structured fields (``extra=``) of every record are printed; controls are escaped and URL
passwords masked in both formats. A traceback is one field (``traceback``) of its record's line.
``PUSHWORKER_LOG_FORMAT`` chooses (``json``, ``text``; unset: text on a terminal, else JSON);
:func:`configure` is the standalone service's Django ``LOGGING_CONFIG``, which also sends Python's
warnings through logging, so a warning is a line like any other.
"""

from __future__ import annotations

import logging
import logging.config
import os
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


_operator: ContextVar[bool] = ContextVar("pushworker_operator", default=False)
_enqueue_log = logging.getLogger("pushworker.enqueue")


@contextmanager
def operator_action() -> Iterator[None]:
    """What an operator does by hand (the command line, the admin): its enqueues log at INFO."""
    token = _operator.set(True)
    try:
        yield
    finally:
        _operator.reset(token)


def enqueued(event_id: str, kind: str, app: str, **fields: Any) -> None:
    """The one ``enqueued`` line of a ``delay()``, carrying the correlation id the worker's lines
    will carry (:func:`task_headers`). DEBUG, as a shop's web process enqueues on every page view;
    INFO inside :func:`operator_action`."""
    level = logging.INFO if _operator.get() else logging.DEBUG
    if _enqueue_log.isEnabledFor(level):
        correlation_id = _correlation.get() or event_id
        extra = {"delivery_id": event_id, "kind": kind, "app": app, **fields}
        _enqueue_log.log(level, "enqueued", extra=extra | {"correlation_id": correlation_id})


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
        # A traceback keeps its line breaks: inside a JSON string they cannot start a line, and a
        # reader of the field wants the lines. Its URL passwords are masked all the same.
        stack = {
            "traceback": log_data.pop("exc_info", None),
            "stack": log_data.pop("stack_info", None),
        }
        cleaned = {_clean(str(key)): _cleaned(value) for key, value in log_data.items()}
        cleaned |= {key: mask_url_credentials(str(value)) for key, value in stack.items() if value}
        return cleaned


def json_chosen() -> bool:
    """``PUSHWORKER_LOG_FORMAT``: ``json`` or ``text``; unset, text on a terminal, else JSON."""
    chosen = os.environ.get("PUSHWORKER_LOG_FORMAT", "").strip().lower()
    if not chosen:
        return not sys.stderr.isatty()
    return chosen != "text"


def formatter(**kwargs: Any) -> logging.Formatter:
    """The formatter ``PUSHWORKER_LOG_FORMAT`` chooses (:func:`json_chosen`)."""
    return JsonFormatter() if json_chosen() else KeyValueFormatter(kwargs.get("format", LINE))


def configure(config: dict[str, Any]) -> None:
    """Django's ``LOGGING_CONFIG`` of the standalone service: ``config``, and warnings as records.

    Without ``captureWarnings`` a warning (Celery's SecurityWarning, a library's deprecation) is
    printed by the warnings module itself, over several plain-text lines.
    """
    logging.config.dictConfig(config)
    logging.captureWarnings(True)


def line(logger: str, level: int, message: str) -> str:
    """One line in the chosen format for text a library writes straight to a stream (Celery's
    shutdown notices): the same fields as a record logged by ``logger``."""
    record = logging.LogRecord(logger, level, __file__, 0, message, None, None)
    CorrelationFilter().filter(record)
    return formatter().format(record)


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
