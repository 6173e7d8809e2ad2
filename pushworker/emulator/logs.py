"""The emulator's own lines: one JSON object each, or plain text, as ``PUSHWORKER_LOG_FORMAT`` says.

The same variable and the same field names (time, level, logger, message) as the service's lines,
so one log pipeline reads both; the emulator keeps its own few lines of it, as it imports nothing
of pushworker's. Its URLs are announced on stdout for the harness that started it
(:func:`announce`), and :func:`read_urls` reads them back in either format.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import pythonjsonlogger.json

log = logging.getLogger("pushworker.emulator")
TEXT = "pushworker emulator: %(message)s"
URLS = ("production_url", "sandbox_url")


def json_chosen() -> bool:
    """``PUSHWORKER_LOG_FORMAT``: ``json`` or ``text``; unset, text on a terminal, else JSON."""
    chosen = os.environ.get("PUSHWORKER_LOG_FORMAT", "").strip().lower()
    return chosen != "text" if chosen else not sys.stderr.isatty()


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """time, level, logger, message, the record's fields; a traceback is its ``traceback`` field."""

    def __init__(self) -> None:
        rename = {"asctime": "time", "levelname": "level", "name": "logger"}
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields=rename,
            json_ensure_ascii=False,
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        if "exc_info" in log_data:
            log_data["traceback"] = log_data.pop("exc_info")
        return log_data


def setup(level: int = logging.INFO) -> None:
    """Lines to stderr in the chosen format, warnings included; a host project's own logging
    (``manage.py pushworker_emulator``), once configured, is left as it is."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_chosen() else logging.Formatter(TEXT))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


def announce(production_url: str, sandbox_url: str, out: TextIO | None = None) -> None:
    """Both URLs on stdout: ``production_url=…`` and ``sandbox_url=…`` lines in text, one JSON
    line (message ``listening``) in JSON."""
    out = out or sys.stdout
    if json_chosen():
        record = log.makeRecord(log.name, logging.INFO, __file__, 0, "listening", (), None)
        record.production_url, record.sandbox_url = production_url, sandbox_url
        out.write(JsonFormatter().format(record) + "\n")
    else:
        out.write(f"production_url={production_url}\nsandbox_url={sandbox_url}\n")
    out.flush()


def read_urls(lines: Iterable[str]) -> dict[str, str]:
    """``{"production_url": …, "sandbox_url": …}`` from :func:`announce`'s lines in either format;
    stops reading once both are found. ``KeyError`` when the lines end before."""
    found: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            data = json.loads(line)
            found |= {key: data[key] for key in URLS if key in data}
        else:
            key, _, value = line.partition("=")
            if key in URLS:
                found[key] = value
        if len(found) == len(URLS):
            return found
    missing = [key for key in URLS if key not in found]
    raise KeyError(f"the emulator did not announce {', '.join(missing)}")
