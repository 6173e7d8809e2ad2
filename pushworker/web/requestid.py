"""The request id: ``X-Request-ID`` when a proxy sent a safe one, else a new one; echoed back.

It is the correlation id of the request (``pushworker.ops.logs.correlation``): every line the
request logs and every event it enqueues carry it, down to the worker's ``sent`` line, and
gunicorn's access line shows it. A header value is taken only when it is short and made of safe
characters: a client must not be able to write a newline, a quote or a megabyte into a log line.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from pushworker.ops import logs

HEADER = "X-Request-ID"
MAX_LENGTH = 128
# What proxies and tracers send (uuids, hex ids, AWS's "Root=1-5e1b4151-…"), and nothing else.
_SAFE = re.compile(rf"[A-Za-z0-9._:=+/-]{{1,{MAX_LENGTH}}}")


def request_id(given: str | None) -> str:
    """``given`` when it is safe to log and pass on; a new random id otherwise."""
    if given and _SAFE.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets ``request.request_id``, runs the request under it and answers with it in the header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = request_id(request.headers.get(HEADER))
        request.request_id = found  # type: ignore[attr-defined]
        with logs.correlation(found):
            response = self.get_response(request)
        response[HEADER] = found
        return response
