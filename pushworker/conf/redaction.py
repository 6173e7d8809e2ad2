"""Text that reaches a log line or an error page: credentials in URLs masked, controls escaped."""

from __future__ import annotations

import re

SUBSTITUTE = "********"

# scheme://user:password@host → scheme://********@host. Greedy up to the last '@' before any
# whitespace, quote or next URL (kombu joins failover URLs with ';'): an unencoded '@' or '/' in
# a password must not leave its tail visible (at the price of masking a host too when a later
# '@' sits in the path or query).
_SCHEME = r"\b[A-Za-z][A-Za-z0-9+.-]*://"
_URL_USERINFO = re.compile(rf"(?P<scheme>{_SCHEME})(?:(?!{_SCHEME})[^\s'\"<>])*@")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&;][^=&\s'\"]*(?:pass|secret|token|key|auth|pwd)[^=&\s'\"]*=)[^&\s'\"<>]*",
    re.IGNORECASE,
)


def mask_url_credentials(text: str) -> str:
    """`text` with the user-info of every URL in it, and password-like query values, masked."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{SUBSTITUTE}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['name']}{SUBSTITUTE}", text)


# C0 and C1 controls, DEL, and the invisible characters that reorder or split a line on screen:
# bidi embeddings, overrides and isolates, marks, and the Unicode line and paragraph separators.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` on one line as it was written: unprintable characters as `\\n`, `\\x1b`, `\\u202e`.

    A name with a newline can otherwise forge a whole log line, and a bidi override can make one
    read backwards.
    """
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
