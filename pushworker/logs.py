"""A log formatter that prints the structured fields (``extra=``) of pushworker's log records."""

from __future__ import annotations

import logging

from pushworker.redaction import mask_url_credentials, printable

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
