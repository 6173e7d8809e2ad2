"""Xiaomi-shaped response bodies: ids, the emulator's own error catalogue, JSON encoding."""

from __future__ import annotations

import itertools
import json
import random
import string
import threading
import time
from typing import Any

# The emulator's own table, written from the API notes (§6) and deliberately not shared with the
# client's code table: a wrong entry there must show up as a failing test, not be mirrored here.
# code -> Chinese `description`. `reason` (English detail) is chosen per rejection.
DESCRIPTIONS: dict[int, str] = {
    10001: "系统错误",
    10002: "系统繁忙",
    10003: "远程服务错误",
    10016: "缺失必选参数",
    10017: "非法的参数值",
    10027: "应用的接口调用太频繁",
    20301: "发送消息失败",
    21301: "认证失败",
    22000: "非法应用",
    22022: "包名错误",
    65009: "消息内容过长",
    65011: "未提供参数",
    65012: "别名为空",
    65014: "键值对过多",
    65015: "键值对总长度过长",
    65016: "用户账号为空",
    65028: "消息不存在",
    200001: "超过每日配额",
}

OK_DESCRIPTION = "成功"
DAY_QUOTA = 50000

_ALNUM = string.ascii_letters + string.digits
_counter = itertools.count(random.randrange(0x100000))
_counter_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """A 22-character id shaped like the samples: prefix, "lm", 5 hex, 12 ms digits, 2 letters.

    The hex part is a process-wide counter, so ids stay unique even within one millisecond
    (the trace lookup keys on them); the trailing letters only mimic the real ids' look.
    """
    with _counter_lock:
        n = next(_counter) & 0xFFFFF
    millis = int(time.time() * 1000) % 10**12
    tail = "".join(random.choices(_ALNUM, k=2))
    return f"{prefix}lm{n:05x}{millis:012d}{tail}"


def new_trace_id() -> str:
    """A trace id; like Xiaomi's, it starts with X."""
    return new_id("X")


def ok_body(
    info: str | None = None, data: dict[str, Any] | None = None, trace_id: str | None = None
) -> dict[str, Any]:
    """A success body; `info` and `data` are present only when given, as on the real API."""
    body: dict[str, Any] = {"result": "ok", "code": 0, "description": OK_DESCRIPTION}
    if info is not None:
        body["info"] = info
    body["trace_id"] = trace_id or new_trace_id()
    if data is not None:
        body["data"] = data
    return body


def error_body(code: int, reason: str) -> dict[str, Any]:
    """An error body with the code's Chinese description and a fresh trace id."""
    return {
        "result": "error",
        "code": code,
        "reason": reason,
        "description": DESCRIPTIONS.get(code, "未知错误"),
        "trace_id": new_trace_id(),
    }


def encode(body: dict[str, Any] | list[Any]) -> bytes:
    """Compact UTF-8 JSON with Chinese kept as characters, as Xiaomi sends it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Rejected(Exception):
    """A request the emulator answers with a Xiaomi error code (HTTP 200)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
