"""A log formatter that prints the structured fields (``extra=``) of pushworker's log records."""

from __future__ import annotations

import logging

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    """``<time> <level> <logger> <message> key=value …`` for the fields a call site attached."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in sorted(fields.items()))
        return line
