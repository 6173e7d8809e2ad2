"""Specifies broker.celerylogs: Celery's own lines, banners and shutdown notices in JSON."""

from __future__ import annotations

import json
import logging
import os

from pushworker.broker import celerylogs
from pushworker.ops import logs


def test_in_json_the_handlers_celery_sets_up_write_pushworkers_lines(monkeypatch) -> None:
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "json")
    logger = logging.getLogger("test.celerylogs")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        celerylogs._after_setup(logger=logger)
        celerylogs._after_setup(logger=logger)  # Celery sets up the task logger too: no double
    finally:
        logger.removeHandler(handler)
    assert isinstance(handler.formatter, logs.JsonFormatter)
    assert sum(isinstance(f, logs.CorrelationFilter) for f in handler.filters) == 1


def test_in_text_celerys_own_format_stays(monkeypatch) -> None:
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "text")
    handler = logging.StreamHandler()
    handler.setFormatter(original := logging.Formatter("[%(asctime)s] %(message)s"))
    logger = logging.getLogger("test.celerylogs.text")
    logger.addHandler(handler)
    try:
        celerylogs._after_setup(logger=logger)
    finally:
        logger.removeHandler(handler)
    assert handler.formatter is original


def test_beat_leaves_the_banner_out_in_json(monkeypatch) -> None:
    # The worker's half (and its shutdown notices) is seen in a real run: tests/integration.
    from pushworker.celery import app

    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "json")
    assert app.Beat(quiet=False).quiet
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "text")
    assert not app.Beat(quiet=False).quiet


def test_a_shutdown_notice_is_one_json_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PUSHWORKER_LOG_FORMAT", "json")
    with open(tmp_path / "out", "w+") as out:
        celerylogs._say("worker: Warm shutdown (MainProcess)", out)
        out.flush()
        os.fsync(out.fileno())
    [line] = (tmp_path / "out").read_text().splitlines()
    assert json.loads(line)["message"] == "worker: Warm shutdown (MainProcess)"
