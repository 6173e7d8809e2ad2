"""The app secret as an httpx.Auth: it adds Xiaomi's key header and never shows the secret.

The secret lives only in this object's attribute, never in a local variable of a frame between
the caller and the socket, and this object's repr is masked. So an error page or a debugger that
prints the locals of every frame (Django's DEBUG page does) shows `AppSecretAuth('***')`, and
httpx masks the Authorization header in the repr of its requests and headers.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx

MASK = "***"


class AppSecretAuth(httpx.Auth):
    """`Authorization: key=<app secret>` on every request; refuses an unusable secret at once."""

    def __init__(self, app_secret: str) -> None:
        if not isinstance(app_secret, str):
            raise TypeError(f"app_secret must be a str, got {type(app_secret).__name__}")
        if (
            not app_secret
            or not app_secret.isascii()
            or not app_secret.isprintable()
            or any(char.isspace() for char in app_secret)
        ):
            raise ValueError("app_secret must be non-empty printable ASCII without spaces")
        self._secret = app_secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "key=" + self._secret
        yield request

    def scrub(self, text: str) -> str:
        """`text` with the secret replaced by `***` (for error text built from httpx errors)."""
        return text.replace(self._secret, MASK)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AppSecretAuth) and other._secret == self._secret

    def __hash__(self) -> int:
        return hash((AppSecretAuth, self._secret))

    def __repr__(self) -> str:
        return f"AppSecretAuth('{MASK}')"

    def __reduce__(self) -> str | tuple[Any, ...]:
        # Pickling would copy the secret into task arguments or caches; nothing needs it.
        raise TypeError("AppSecretAuth is not picklable: the app secret stays in this process")
