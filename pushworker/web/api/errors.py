"""Every answer under ``/api/`` is JSON, and no body can make the API answer 500.

Three layers answer before a view would: gunicorn refuses a request it cannot parse (400, 431,
written by :mod:`pushworker.web.server`), Django refuses a path it does not know or a body over
its limits (404, 400), and a view refuses a method (405). Django's pages are HTML;
:class:`JsonErrorMiddleware` turns each error answer under ``/api/`` into ``{"detail": ...}``,
keeping its status and headers (``Allow``, ``WWW-Authenticate``).

The body of a device API call is read by :class:`BoundedJSONParser`: at most
:data:`MAX_BODY_BYTES` (413 beyond), and a document nested deeper than Python's parser can
follow is a 400 (``RecursionError`` is no ``ValueError``, so DRF's own parser let it through as a
500).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

API_PREFIX = "/api/"
# A registration is six short fields: 16 KiB is far beyond any real one.
MAX_BODY_BYTES = 16 * 1024
JSON = "application/json"


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = f"The body is larger than {MAX_BODY_BYTES} bytes."
    default_code = "payload_too_large"


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a size limit and an answer for nesting too deep to parse."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read(MAX_BODY_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        try:
            text = codecs.decode(raw, encoding)
            return json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's json accepts them


def json_error(status: int, detail: str | None = None) -> JsonResponse:
    """``{"detail": ...}`` with ``status``; the detail defaults to the status's phrase."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return JsonResponse({"detail": detail or phrase}, status=status)


class JsonErrorMiddleware:
    """Error answers under ``/api/`` that are not JSON become ``{"detail": <phrase>}``."""

    KEPT = ("Allow", "WWW-Authenticate", "Retry-After")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith(JSON)
        ):
            return response
        answer = json_error(response.status_code)
        for header in self.KEPT:
            if header in response:
                answer[header] = response[header]
        if getattr(response, "_has_been_logged", False):  # said once, by whoever made it
            answer._has_been_logged = True  # type: ignore[attr-defined]
        return answer
