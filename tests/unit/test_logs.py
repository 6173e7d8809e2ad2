"""Specifies the log formatter: one line per record, structured fields, no URL passwords."""

from __future__ import annotations

import logging
import sys

from pushworker.ops.logs import KeyValueFormatter


def _format(message: str, *args: object, exc: bool = False, **extra: object) -> str:
    record = logging.LogRecord("pushworker.test", logging.WARNING, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            record.exc_info = sys.exc_info()
    return KeyValueFormatter("%(levelname)s %(message)s").format(record)


def test_fields_follow_the_message_as_sorted_key_value_pairs() -> None:
    assert (
        _format("sent %s", "d1", delivery_id=7, mipush_code=0)
        == "WARNING sent d1 delivery_id=7 mipush_code=0"
    )


def test_a_newline_in_a_name_or_field_cannot_forge_a_log_line() -> None:
    forged = "x\n2026-12-01 00:00:00 ERROR pushworker all deliveries lost"
    line = _format("dead-lettered task %s", forged, task_name=forged)
    assert "\n" not in line
    assert line.count("\\n") == 2


def test_bidi_overrides_and_escape_sequences_are_shown_escaped() -> None:
    line = _format("name %s", "abc\u202edcba\x1b[31m")
    assert line == "WARNING name abc\\u202edcba\\x1b[31m"


def test_passwords_in_urls_never_reach_a_log_line() -> None:
    line = _format("broker %s down", "redis://:pw-123@redis:6379/0", url="postgres://u:pw-456@db/x")
    assert "pw-123" not in line and "pw-456" not in line
    assert "redis://********@redis:6379/0" in line


def test_a_traceback_keeps_its_lines() -> None:
    assert "Traceback (most recent call last):\n" in _format("failed", exc=True)
