"""Delivery receipts the way Xiaomi posts them (mipush-api.md §5.3), for accepted messages.

A message carrying ``extra.callback`` gets, shortly after it was accepted, a ``POST`` of a form
whose field ``data`` is JSON keyed by message id: type 1 (delivered) for the targets the emulator
knows, type 16 (invalid target, with ``errorCode``) for the ones it does not (the known-targets
fault: ``Emulator.set_known_targets``), each only when ``extra.callback.type`` asks for it.
One POST per receipt: an entry is keyed by message id, so two receipts of one message cannot
share a POST. Like Xiaomi, the emulator does not retry a POST that failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

log = logging.getLogger("pushworker.emulator.receipts")
DELIVERED, INVALID_TARGET = 1, 16
DEFAULT_TYPES = 3  # Xiaomi's old default: delivered + clicked
ERROR_CODES = {"regid": 1, "alias": 2, "user_account": 3}
_pending: set[asyncio.Task[None]] = set()  # a task nobody references may be collected mid-way


def post_later(messages: list[dict[str, Any]], target_type: str) -> None:
    """Schedule the receipts of just-accepted ``messages`` (the recorder's message dicts)."""
    for message in messages:
        for url, form in receipts_of(message, target_type):
            task = asyncio.get_running_loop().create_task(_post(url, form))
            _pending.add(task)
            task.add_done_callback(_pending.discard)


def receipts_of(message: dict[str, Any], target_type: str) -> list[tuple[str, dict[str, str]]]:
    """(callback URL, form) of each receipt the message asked for."""
    fields = message["fields"]
    url = fields.get("extra.callback")
    if not url:
        return []
    try:
        wanted = int(fields.get("extra.callback.type", DEFAULT_TYPES))
    except ValueError:
        wanted = DEFAULT_TYPES
    base: dict[str, Any] = {"timestamp": int(time.time() * 1000)}
    if "extra.callback.param" in fields:
        base["param"] = fields["extra.callback.param"]
    entries = []
    if wanted & DELIVERED and message["targets"]:
        delivered = {"type": DELIVERED, "targets": ",".join(message["targets"])}
        entries.append(base | delivered | {"barStatus": "Enable"})
    if wanted & INVALID_TARGET and message["dropped_targets"]:
        invalid = {"type": INVALID_TARGET, "targets": ",".join(message["dropped_targets"])}
        entries.append(base | invalid | {"errorCode": ERROR_CODES.get(target_type, 1)})
    key = message["message_id"]
    return [(url, {"data": json.dumps({key: entry}, ensure_ascii=False)}) for entry in entries]


async def _post(url: str, form: dict[str, str]) -> None:
    # Runs beside the send's answer, never delaying it: Xiaomi's receipts come separately.
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=form) as response,
        ):
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("receipt POST failed: %s: %s", type(error).__name__, error)
        return
    log.debug("receipt POSTed: HTTP %s", status)
