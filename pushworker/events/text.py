"""Text cleaning at the boundary: what a user-given name may carry into pushworker's state. Pure.

A name (goods name, visitor name) is user data. It may hold characters that no database, log line
or phone screen should see: NUL (PostgreSQL text cannot store it), other C0/C1 control characters
(a newline forges a log line), bidi overrides and isolates (a nickname could reverse the rest of
the notification), and lone surrogates (valid in a Python str, not encodable as UTF-8). The event
is cleaned once where it enters (``events.validators``), so the notification, the
records and the logs all see the same cleaned text; the helpers here are the one definition.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and every kind of white space (U+2028/2029 included) become one space.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x1f\x7f-\x9f\s]+")
# Bidi embeddings, overrides, isolates and marks: removed, they carry no letter.
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
SHOWN_MAX = 80  # characters of a bad value echoed in an error message


def clean(text: str) -> str:
    """``text`` with lone surrogates replaced, bidi controls dropped, spaces collapsed."""
    text = _SURROGATE.sub(REPLACEMENT, text)
    text = _BIDI.sub("", text)
    return _CONTROL_OR_SPACE.sub(" ", text).strip()


def has_unsafe(text: str) -> bool:
    """Whether ``text`` holds a character :func:`clean` would change other than plain spaces."""
    return bool(
        re.search(r"[\x00-\x1f\x7f-\x9f]", text) or _BIDI.search(text) or _SURROGATE.search(text)
    )


def storable(value: object, limit: int) -> str:
    """Raw evidence (a dead letter's body) as text any database keeps: escaped, never dropped.

    NUL becomes ``\\x00``, a lone surrogate ``\\udXXX`` and a bidi control ``\\u202e``; everything
    else stays as it came.
    """
    if isinstance(value, bytes | bytearray):
        value = bytes(value[: limit * 4]).decode("utf-8", errors="replace")
    text = str(value)[:limit]
    text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    text = _BIDI.sub(lambda found: found.group().encode("unicode_escape").decode(), text)
    return text.replace("\x00", "\\x00")


def one_line(value: object, limit: int) -> str:
    """A short value for a log field or a record's name column: cleaned, on one line, cut."""
    return clean(str(value)[: limit * 2])[:limit]


def shown(value: object) -> str:
    """``repr(value)`` cut to :data:`SHOWN_MAX` an error shows a bad value, not 10 MB."""
    if isinstance(value, str | bytes) and len(value) > SHOWN_MAX * 4:
        value = value[: SHOWN_MAX * 4]  # repr of a huge value would cost its whole size first
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…"
