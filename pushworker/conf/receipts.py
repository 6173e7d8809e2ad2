"""The receipt keys of the ``PUSHWORKER`` dict: RECEIPTS_URL, RECEIPTS_TOKEN, RECEIPTS_TYPES and
RECEIPTS_PREVIOUS_TOKEN.

Parsed with the rest of the dict (:func:`pushworker.conf.inspect` puts them on ``Settings.receipts``
and their problems in the one list). Receipts are off until RECEIPTS_URL is set; then every
message carries Xiaomi's ``extra.callback`` = ``RECEIPTS_URL/RECEIPTS_TOKEN``,
``extra.callback.param`` = the event id and ``extra.callback.type`` = RECEIPTS_TYPES
(mipush-api.md §5.3). Xiaomi signs nothing, so the unguessable token in the path is what
authenticates a receipt. To rotate it, RECEIPTS_PREVIOUS_TOKEN keeps the old one accepted (never
sent) while receipts of messages sent with it may still come.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pushworker.conf.types import Problem, ReceiptSettings, Secret

Path = tuple[str, ...]
# The receipt types of §5.3; RECEIPTS_TYPES is a sum (bitmask) of them.
TYPES = {
    1: "delivered",
    2: "clicked",
    16: "invalid target",
    32: "push disabled",
    64: "filtered",
    128: "over quota",
    1024: "expired",
}
ALL_TYPES = sum(TYPES)
# A URL-safe token of at least 32 characters, e.g. python -c "import secrets;
# print(secrets.token_urlsafe(32))": it is a path segment of the callback URL.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,128}")
URL_SHAPE = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
# Xiaomi refuses a longer callback URL (65037 "callback url too long"; the docs say 128 bytes).
MAX_CALLBACK_BYTES = 128


def parse(
    spec: Any, labels: Mapping[Path, str] | None = None
) -> tuple[ReceiptSettings, list[Problem]]:
    """The receipt settings (off where a value is bad) and every problem found."""
    spec = spec if isinstance(spec, Mapping) else {}
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        name = (labels or {}).get((key,)) or f"PUSHWORKER[{key!r}]"
        problems.append(Problem(name, message))

    url, token = spec.get("RECEIPTS_URL"), spec.get("RECEIPTS_TOKEN")
    types = spec.get("RECEIPTS_TYPES")
    receipts = ReceiptSettings()
    if types is not None:
        if isinstance(types, str) and types.strip().isdigit():
            types = int(types)
        if isinstance(types, bool) or not isinstance(types, int) or not 0 < types <= ALL_TYPES:
            bad("RECEIPTS_TYPES", f"must be a sum of receipt types {sorted(TYPES)}, got {types!r}")
        elif types & ~ALL_TYPES:
            bad("RECEIPTS_TYPES", f"holds an unknown receipt type: {types} ({sorted(TYPES)})")
        else:
            receipts = ReceiptSettings(types=types)
    if url in (None, ""):
        return receipts, problems
    if not isinstance(url, str) or not URL_SHAPE.fullmatch(url):
        bad("RECEIPTS_URL", f"must be an http:// or https:// URL, got {str(url)[:80]!r}")
        return receipts, problems
    if not isinstance(token, str) or not TOKEN_SHAPE.fullmatch(token):
        bad(
            "RECEIPTS_TOKEN",
            "must be set with RECEIPTS_URL: 32 to 128 characters of A-Z a-z 0-9 _ - "
            "(e.g. secrets.token_urlsafe(32); the value is not shown)",
        )
        return receipts, problems
    previous = spec.get("RECEIPTS_PREVIOUS_TOKEN")
    if previous not in (None, "") and (
        not isinstance(previous, str) or not TOKEN_SHAPE.fullmatch(previous) or previous == token
    ):
        bad(
            "RECEIPTS_PREVIOUS_TOKEN",
            "must be the token before a rotation: 32 to 128 characters of A-Z a-z 0-9 _ -, "
            "other than RECEIPTS_TOKEN (the value is not shown)",
        )
        return receipts, problems
    enabled = ReceiptSettings(
        url.rstrip("/"), Secret(token), receipts.types, Secret(previous or "")
    )
    if len(enabled.callback_url().encode()) > MAX_CALLBACK_BYTES:
        bad(
            "RECEIPTS_URL",
            f"plus '/' and the token must stay within {MAX_CALLBACK_BYTES} bytes "
            "(Xiaomi refuses a longer callback URL with 65037)",
        )
        return receipts, problems
    return enabled, problems
