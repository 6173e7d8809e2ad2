"""The JSON log format, the format switch and the correlation id's way into task headers."""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings
from types import SimpleNamespace

from pushworker.ops import logs


def _line(message: str, *args: object, **extra: object) -> str:
    record = logging.LogRecord("pushworker.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    logs.CorrelationFilter().filter(record)
    return logs.JsonFormatter().format(record)


def test_a_record_is_one_json_object_with_its_fields_and_correlation_id() -> None:
    with logs.correlation("req-1"):
        line = _line("sent %s", "d1", delivery_id="d1", code=0, targets=["QQC****12"])
    data = json.loads(line)
    assert (data["message"], data["level"]) == ("sent d1", "WARNING")
    assert (data["delivery_id"], data["code"], data["targets"]) == ("d1", 0, ["QQC****12"])
    assert data["correlation_id"] == "req-1"


def test_newlines_controls_and_url_passwords_cannot_forge_or_leak() -> None:
    forged = 'x\n{"level": "ERROR"}\x1b[2J\u2028'
    line = _line("name %s", forged, url="redis://:hunter2@redis:6379/0", names=[forged])
    assert "\n" not in line and "\u2028" not in line and "\x1b" not in line
    assert "hunter2" not in line
    assert json.loads(line)["message"].startswith("name x\\n")


def test_the_format_is_chosen_by_pushworker_log_format(monkeypatch) -> None:
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "text")
    assert isinstance(logs.formatter(), logs.KeyValueFormatter)
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "json")
    assert isinstance(logs.formatter(), logs.JsonFormatter)


def test_the_headers_carry_the_callers_id_or_else_the_event_id() -> None:
    assert logs.task_headers("ev-1") == {logs.HEADER: "ev-1"}
    with logs.correlation("req-9"):
        assert logs.task_headers("ev-1") == {logs.HEADER: "req-9"}
    assert logs.current() is None


def test_a_task_takes_the_id_from_its_headers_or_its_task_id() -> None:
    logs.task_started(task=SimpleNamespace(request=SimpleNamespace(**{logs.HEADER: "req-3"})))
    assert logs.current() == "req-3"
    logs.task_started(task=SimpleNamespace(request=SimpleNamespace()), task_id="ev-2")
    assert logs.current() == "ev-2"
    logs.task_ended()
    assert logs.current() is None


def test_idle_maintenance_runs_write_no_line_busy_ones_do() -> None:
    quiet = logs._QuietMaintenance(("pushworker.relay_outbox",))

    def kept(logger: str, message: str, args: object) -> bool:
        record = logging.LogRecord(logger, logging.INFO, __file__, 1, message, None, None)
        record.args = args  # type: ignore[assignment]
        return quiet.filter(record)

    relay = {"name": "pushworker.relay_outbox", "id": "1"}
    assert not kept("celery.worker.strategy", "received", relay)
    assert not kept("celery.app.trace", "succeeded", relay | {"return_value": "0"})
    assert kept("celery.app.trace", "succeeded", relay | {"return_value": "3"})
    due = ("pushworker.relay_outbox", "pushworker.relay_outbox")
    assert not kept("celery.beat", "Sending due task %s (%s)", due)
    other = {"name": "pushworker.send_goods_visit", "id": "2"}
    assert kept("celery.worker.strategy", "received", other)


def test_a_failed_maintenance_run_is_always_logged() -> None:
    quiet = logs._QuietMaintenance(("pushworker.relay_outbox",))
    record = logging.LogRecord("celery.app.trace", logging.ERROR, __file__, 1, "raised", None, None)
    record.args = {"name": "pushworker.relay_outbox", "id": "1", "exc": "OperationalError"}  # type: ignore[assignment]
    assert quiet.filter(record)


def test_a_traceback_is_one_field_of_its_line_with_its_lines_kept() -> None:
    try:
        raise ValueError("broken at redis://:hunter2@redis:6379/0")
    except ValueError:
        record = logging.LogRecord("pushworker.t", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["traceback"].startswith("Traceback (most recent call last):\n")
    assert "ValueError" in data["traceback"] and "hunter2" not in data["traceback"]
    assert "exc_info" not in data


def test_a_warning_is_a_record_once_the_service_configures_logging(monkeypatch) -> None:
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "json")
    stream = io.StringIO()
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"fields": {"()": "pushworker.ops.logs.formatter"}},
        "handlers": {
            "out": {"class": "logging.StreamHandler", "formatter": "fields", "stream": stream}
        },
        "loggers": {"py.warnings": {"handlers": ["out"], "propagate": False}},
    }
    with warnings.catch_warnings():  # pytest's own recording of warnings stays out of this one
        warnings.simplefilter("always")
        logging.captureWarnings(False)  # Django's set-up of the test run captured them already
        try:
            logs.configure(config)
            warnings.warn("a library's\nwarning", UserWarning, stacklevel=1)
        finally:
            logging.captureWarnings(False)
            logging.getLogger("py.warnings").handlers.clear()
    [line] = stream.getvalue().splitlines()
    data = json.loads(line)
    assert (data["logger"], data["level"]) == ("py.warnings", "WARNING")
    assert "UserWarning: a library's" in data["message"]


def _enqueued_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pushworker.enqueue" and r.msg == "enqueued"]


def test_delay_says_enqueued_at_debug_and_at_info_in_an_operators_action(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="pushworker.enqueue")
    with logs.correlation("req-5"):
        logs.enqueued("ev-1", "goods_visit", "qqc")
    with logs.operator_action():
        logs.enqueued("ev-2", "goods_visit", "qqc")
    first, second = _enqueued_lines(caplog)
    assert (first.levelno, first.correlation_id, first.delivery_id) == (
        logging.DEBUG,
        "req-5",
        "ev-1",
    )
    # Without a correlation id the event id is the one the worker's lines carry.
    assert (second.levelno, second.correlation_id) == (logging.INFO, "ev-2")


def test_a_line_written_outside_logging_has_the_chosen_format(monkeypatch) -> None:
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "json")
    data = json.loads(logs.line("celery.apps.worker", logging.INFO, "worker: Warm shutdown"))
    assert (data["logger"], data["message"]) == ("celery.apps.worker", "worker: Warm shutdown")
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "text")
    assert logs.line("celery", logging.INFO, "x").endswith("INFO celery x")
