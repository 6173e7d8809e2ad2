"""Celery's own lines in pushworker's format: task received/succeeded/retry, beat, shutdown notices.

Celery sets up its worker's and beat's logging itself (it takes over the root logger); once it has,
:func:`use_pushworker_format` gives each of its handlers pushworker's formatter and correlation id
(``pushworker.ops.logs``), through Celery's documented ``after_setup_*logger`` signals. In JSON
(``PUSHWORKER_LOG_FORMAT``), :class:`Celery` leaves out the start-up banners and writes the
shutdown notices Celery prints straight to the terminal as JSON lines too, so every line of a
worker or beat is one JSON object. In text, Celery's own format and banners stay as they are.

The standalone service uses both (``pushworker/celery.py``). A host project may call
:func:`use_pushworker_format` for its own worker, and run it with ``celery --quiet``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from functools import cached_property
from typing import Any

import celery
from celery import signals
from celery.apps import beat as celery_beat
from celery.apps import worker as celery_worker
from celery.utils.log import get_multiprocessing_logger

from pushworker.ops import logs


def _reformat(logger: logging.Logger | None) -> None:
    if logger is None:
        return
    for handler in logger.handlers:
        handler.setFormatter(logs.formatter())
        if not any(isinstance(f, logs.CorrelationFilter) for f in handler.filters):
            handler.addFilter(logs.CorrelationFilter())


def _after_setup(logger: logging.Logger | None = None, **_: Any) -> None:
    if logs.json_chosen():
        _reformat(logger)
        _reformat(get_multiprocessing_logger())


def use_pushworker_format() -> None:
    """In JSON, every handler Celery sets up (root, task, multiprocessing) writes pushworker's
    lines. Connecting twice changes nothing."""
    signals.after_setup_logger.connect(_after_setup, weak=False, dispatch_uid="pushworker")
    signals.after_setup_task_logger.connect(_after_setup, weak=False, dispatch_uid="pushworker")


def _say(msg: str, f: Any = sys.__stderr__) -> None:
    """Celery's ``safe_say`` (its shutdown notices), as a JSON line written the same way: one
    ``os.write``, as it runs inside a signal handler where taking a logging lock could deadlock."""
    if hasattr(f, "fileno") and f.fileno() is not None:
        line = logs.line("celery.apps.worker", logging.INFO, msg.strip())
        # As Celery's own: losing the notice must never abort the shutdown.
        with contextlib.suppress(OSError):
            os.write(f.fileno(), (line + "\n").encode())


class _Worker(celery_worker.Worker):
    def on_before_init(self, quiet: bool = False, **kwargs: Any) -> None:
        if logs.json_chosen():
            quiet = True  # the banner is many lines of text: the start-up is in the log lines
            # Looked up by name when a shutdown signal arrives: the notices become JSON lines.
            celery_worker.safe_say = _say
        super().on_before_init(quiet=quiet, **kwargs)


class _Beat(celery_beat.Beat):
    def __init__(self, *args: Any, quiet: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, quiet=quiet or logs.json_chosen(), **kwargs)


class Celery(celery.Celery):
    """A Celery app whose ``celery worker`` and ``celery beat`` leave their banners out in JSON."""

    @cached_property
    def Worker(self) -> Any:  # Celery's attribute name
        return self.subclass_with_self(_Worker, reverse="Worker")

    @cached_property
    def Beat(self) -> Any:  # Celery's attribute name
        return self.subclass_with_self(_Beat, reverse="Beat")
